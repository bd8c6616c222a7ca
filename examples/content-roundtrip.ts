// Write a blob under a lease, read it back, label it, delete it: the content store API.
//
//   npx tsx examples/content-roundtrip.ts [SOCKET]
import { Client, NotFoundError } from 'berth';

async function main(): Promise<void> {
  const [socket = '/run/berth/berthd.sock'] = process.argv.slice(2);
  const client = Client.connect(socket, { namespace: 'examples' });
  try {
    await client.withLease(async (leased) => {
      const digest = await leased.content.write(Buffer.from('hello from berth\n'), { labels: { example: 'yes' } });
      const info = await leased.content.info(digest);
      console.log(digest, info.size, info.labels);
      console.log((await leased.content.readAll(digest)).toString());
      await leased.content.delete(digest);
      await leased.content.info(digest).catch((err: unknown) => {
        if (!(err instanceof NotFoundError)) throw err;
        console.log('deleted');
      });
    });
  } finally {
    client.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
