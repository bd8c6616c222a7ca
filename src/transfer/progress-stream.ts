// A transfer's progress, sent on the stream the client named (TransferOptions.progress_stream)
// as Anys of containerd.types.transfer.Progress. The client reads at its own pace: what is
// waiting to be sent is the latest report per name (a blob's "downloading" replaces the one
// before it), so a slow or stalled reader costs berthd one report per blob, not one per chunk.
import type { DescriptorRecord } from '../metadata/records';
import { packAny } from '../proto/any';
import type { ManagedStream } from '../streaming/manager';

export const PROGRESS_TYPE = 'containerd.types.transfer.Progress';

export interface TransferProgress {
  /** "waiting", "downloading", "complete", "already exists", "saved", or a sentence. */
  event: string;
  /** A blob's ingest ref ("layer-sha256:…"), or the image's name. */
  name?: string;
  parents?: string[];
  progress?: number;
  total?: number;
  desc?: DescriptorRecord;
}

/** How long the end of a transfer waits for the client to read the reports still queued. */
const FLUSH_TIMEOUT_MS = 10_000;

export class ProgressStream {
  /** Reports not sent yet, by key, in the order their keys first queued. */
  private readonly pending = new Map<string, TransferProgress>();
  private pumping: Promise<void> | null = null;
  private failed = false;

  constructor(private readonly stream: ManagedStream) {}

  report(p: TransferProgress): void {
    if (this.failed || this.stream.closed) return;
    // A report replaces an unsent one of the same name and event, in its place (a blob's
    // downloading reports collapse into the latest; waiting → complete stays two).
    this.pending.set(`${p.name ?? ''}\0${p.event}`, p);
    if (!this.pumping) this.pumping = this.pump();
  }

  private async pump(): Promise<void> {
    try {
      while (this.pending.size > 0 && !this.failed) {
        const [key, p] = this.pending.entries().next().value as [string, TransferProgress];
        this.pending.delete(key);
        await this.stream.send(packAny(PROGRESS_TYPE, toWire(p)));
      }
    } catch {
      // The client went away: the transfer goes on without reports.
      this.failed = true;
      this.pending.clear();
    } finally {
      this.pumping = null;
    }
  }

  /** Sends what is queued (for at most FLUSH_TIMEOUT_MS), then ends the stream. */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, FLUSH_TIMEOUT_MS);
      timer.unref();
    });
    try {
      while (this.pumping && !this.failed) await Promise.race([this.pumping, timeout.then(() => (this.failed = true))]);
    } finally {
      clearTimeout(timer);
      this.stream.close();
    }
  }
}

function toWire(p: TransferProgress): object {
  return {
    event: p.event,
    name: p.name ?? '',
    parents: p.parents ?? [],
    progress: p.progress ?? 0,
    total: p.total ?? 0,
    desc: p.desc ? { media_type: p.desc.mediaType, digest: p.desc.digest, size: p.desc.size, annotations: p.desc.annotations ?? {} } : null,
  };
}
