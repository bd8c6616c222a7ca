// The message name an Any's type URL stands for. containerd writes the bare full name
// ("containerd.runc.v1.Options", typeurl's convention); protobuf's own convention prefixes
// it ("type.googleapis.com/…"). Both are read: everything up to the last '/' is dropped.
export function typeNameOf(typeUrl: string): string {
  return typeUrl.replace(/^.*\//, '');
}
