// What every command gets: the client, the output mode, and the terminal's width.
import type { Client } from '../client/client';
import { renderTable } from './table';

export interface GlobalOptions {
  address: string;
  namespace: string;
  json: boolean;
}

export class CliContext {
  private clientValue: Client | null = null;

  constructor(readonly global: GlobalOptions) {}

  /** process.stdout, made by node on first use: a command that prints nothing before its
   * first call (run) does not pay for it there. */
  get stdout(): NodeJS.WriteStream {
    return process.stdout;
  }

  get stderr(): NodeJS.WriteStream {
    return process.stderr;
  }

  get json(): boolean {
    return this.global.json;
  }

  /** The client, made on first use (commands that need no daemon never load it). */
  get client(): Client {
    if (!this.clientValue) {
      const { Client } = require('../client/client') as typeof import('../client/client');
      this.clientValue = Client.connect(this.global.address, { namespace: this.global.namespace });
    }
    return this.clientValue;
  }

  /** A table for people, or the data as one JSON document with --json. */
  table(header: readonly string[], rows: readonly (readonly string[])[], data: unknown): void {
    if (this.json) this.print(JSON.stringify(data, jsonReplacer, 2));
    else this.stdout.write(renderTable(header, rows, this.stdout.isTTY ? this.stdout.columns : undefined));
  }

  /** Text for people, or the data as JSON. */
  show(human: string, data: unknown): void {
    if (this.json) this.print(JSON.stringify(data, jsonReplacer, 2));
    else this.stdout.write(human.endsWith('\n') || human === '' ? human : `${human}\n`);
  }

  /** One JSON line (streams of records: events, progress). */
  jsonLine(data: unknown): void {
    this.stdout.write(JSON.stringify(data, jsonReplacer) + '\n');
  }

  print(text: string): void {
    this.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  close(): void {
    this.clientValue?.close();
  }
}

/** Buffers (content, spec bytes) as base64 in JSON rather than {type, data} arrays. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
    return Buffer.from((value as { data: number[] }).data).toString('base64');
  }
  return value;
}
