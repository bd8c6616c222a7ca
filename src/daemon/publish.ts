// `berthd --address SOCK publish --topic T --namespace NS`: containerd's publish command,
// which shims may run as their -publish-binary. stdin is an encoded google.protobuf.Any
// (the event); it becomes Events.Publish{topic, event} with the namespace header.
import type { EventsClient } from '../generated/types/containerd/services/events/v1/Events';
import { callMetadata, Connection, unary } from '../client/connection';
import { decodeMessage } from '../proto/registry';

function readStdin(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (b: Buffer) => chunks.push(b));
    process.stdin.once('end', () => resolve(Buffer.concat(chunks)));
    process.stdin.once('error', reject);
  });
}

export async function publishCommand(address: string, topic: string, namespace: string): Promise<void> {
  if (topic === '') throw new Error('topic required to publish event');
  if (namespace === '') throw new Error('namespace required to publish event');
  const data = await readStdin();
  const event = decodeMessage<{ type_url: string; value: Buffer }>('google.protobuf.Any', data);
  const conn = new Connection(address);
  try {
    const events = conn.service<EventsClient>('containerd.services.events.v1.Events');
    await unary((cb) => events.Publish({ topic, event }, callMetadata(namespace), cb));
  } finally {
    conn.close();
  }
}
