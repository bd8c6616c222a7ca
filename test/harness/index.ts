// Test harness for berth's e2e tests: temp dirs, processes, a private berthd, a private
// real containerd 1.6, the real `ctr` client, and the CRI test environment (cri-*.ts).
export * from './tempdir';
export * from './process';
export * from './daemon';
export * from './berthd';
export * from './containerd';
export * from './ctr';
export * from './rootfs';
export * from './registry';
export * from './go';
export * from './runc-leftovers';
export * from './cri-tools';
export * from './cri-images';
export * from './cri-env';
export * from './cri-crictl';
export * from './cri-critest';
export * from './cri-daemons';
export * from './prometheus';
export * from './tmux';
