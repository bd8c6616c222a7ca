// Watch a daemon's events (all, or those matching containerd filters) until Ctrl-C.
//
//   npx tsx examples/watch-events.ts [SOCKET] ['topic~="/tasks/"' …]
import { Client, UnavailableError } from 'berth';

async function main(): Promise<void> {
  const [socket = '/run/berth/berthd.sock', ...filters] = process.argv.slice(2);
  const client = Client.connect(socket);
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  try {
    for await (const e of client.events(filters, { signal: stop.signal })) {
      const when = e.timestamp?.toISOString() ?? '-';
      console.log(`${when} ${e.namespace} ${e.topic} ${JSON.stringify(e.event ?? {})}`);
    }
  } catch (err) {
    if (stop.signal.aborted) return; // Ctrl-C
    if (err instanceof UnavailableError) console.error(`no daemon at ${socket}: ${err.message}`);
    throw err;
  } finally {
    client.close();
  }
}

main().catch(() => process.exit(1));
