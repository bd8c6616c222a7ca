// Unpacking while a pull downloads, as containerd 1.6's client unpacker does: the pull's
// progress says when each blob is in the content store; once the (one) manifest is, its
// config and layers are known and the unpack starts, applying layer i as soon as its blob
// has arrived. Layers download in parallel and are applied bottom up, so most of the
// unpack happens during the download instead of after it (bench/cli-pull.ts).
import type { BlobProgress, ProgressCallback } from '../remotes/pull';
import type { UnpackDescriptor } from './backend';
import type { UnpackImage } from './unpacker';

interface Gate {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface ManifestJson {
  config?: { mediaType?: string; digest: string; size: number };
  layers?: Array<{ mediaType?: string; digest: string; size: number; annotations?: Record<string, string> }>;
}

export class UnpackDuringPull {
  private readonly gates = new Map<string, Gate>();
  private manifests: string[] = [];
  private started: Promise<unknown> | null = null;
  private failure: unknown = null;

  /**
   * `unpack` runs the unpack of an image (src/unpack's unpackImage over the daemon) with
   * the layerReady gate this gives it.
   */
  /** `readBlob` reads a blob of the content store the pull writes to (the manifest). */
  constructor(
    private readonly readBlob: (digest: string) => Promise<Buffer>,
    private readonly unpack: (image: UnpackImage, layerReady: (layer: UnpackDescriptor) => Promise<void>) => Promise<string>,
  ) {}

  private gate(digest: string): Gate {
    let g = this.gates.get(digest);
    if (!g) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      promise.catch(() => undefined);
      g = { promise, resolve, reject };
      if (this.failure !== null) reject(this.failure);
      this.gates.set(digest, g);
    }
    return g;
  }

  /** The pull's progress callback (passing every event on to `next`). */
  progress(next?: ProgressCallback): ProgressCallback {
    return (p: BlobProgress) => {
      if (p.status === 'done' || p.status === 'exists') {
        this.gate(p.digest).resolve();
        if (p.kind === 'manifest') {
          this.manifests.push(p.digest);
          // One manifest (the host platform's) is the usual pull; with more, the unpack
          // waits for the pull to say which.
          if (this.manifests.length === 1) {
            this.started = this.start(p.digest);
            // Awaited by result(); a failure before then is not an unhandled rejection.
            this.started.catch(() => undefined);
          }
        }
      }
      next?.(p);
    };
  }

  private async start(manifestDigest: string): Promise<string> {
    const m = JSON.parse((await this.readBlob(manifestDigest)).toString('utf8')) as ManifestJson;
    if (!m.config || !Array.isArray(m.layers)) throw new Error(`manifest ${manifestDigest} has no config or layers`);
    await this.gate(m.config.digest).promise;
    const image: UnpackImage = {
      config: { mediaType: m.config.mediaType ?? '', digest: m.config.digest, size: m.config.size },
      layers: m.layers.map((l) => ({ mediaType: l.mediaType ?? '', digest: l.digest, size: l.size, ...(l.annotations ? { annotations: l.annotations } : {}) })),
    };
    return this.unpack(image, (layer) => this.gate(layer.digest).promise);
  }

  /** The pull failed: whatever waits for a blob stops waiting. */
  fail(err: unknown): void {
    this.failure = err;
    for (const g of this.gates.values()) g.reject(err);
  }

  /**
   * After the pull: the chain ID the early unpack made, or undefined when it did not start
   * or the pull fetched more than one manifest (the caller then unpacks the usual way,
   * from the image's target). One manifest fetched is the one the pull chose.
   */
  async result(): Promise<string | undefined> {
    if (!this.started) return undefined;
    if (this.manifests.length !== 1) {
      await this.started.catch(() => undefined);
      return undefined;
    }
    return (await this.started) as string;
  }
}
