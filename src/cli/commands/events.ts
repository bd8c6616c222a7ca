import type { Command } from '../command';

const USAGE = `usage: berth events [FILTER…]   stream events until interrupted (topic~="/tasks/", namespace==x)
`;

export const eventsCommand: Command = {
  usage: USAGE,
  async run(ctx, args) {
    if (args[0] === '-h' || args[0] === '--help') {
      ctx.stdout.write(USAGE);
      return 0;
    }
    const ac = new AbortController();
    const stop = (): void => ac.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      for await (const e of ctx.client.events(args, { signal: ac.signal })) {
        const when = e.timestamp ? `${e.timestamp.toISOString().slice(0, 19)}.${String(e.nanos).padStart(9, '0')}Z` : '-';
        if (ctx.json) ctx.jsonLine({ timestamp: when, namespace: e.namespace, topic: e.topic, type: e.type, event: e.event ?? null });
        else ctx.print(`${when} ${e.namespace} ${e.topic} ${JSON.stringify(e.event ?? {})}`);
      }
    } catch (err) {
      if (!ac.signal.aborted) throw err;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
    return 0;
  },
};
