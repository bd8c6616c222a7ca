// The readiness watch of a pty master, shared by the copy that reads the process's output
// from it and the one that writes the client's input to it. libuv takes one poll handle
// per descriptor, so both directions go through one watcher whose events follow what is
// currently waited for: readable while the output copy may read (it stops while the
// client's FIFO is full), writable while input is waiting for room in the terminal's
// input queue (so a write resumes exactly when the master can take more, as containerd's
// shim does with epoll, rather than on a timer).
import { UV_READABLE, UV_WRITABLE, watchFd, type FdWatcher } from '../native';

/** `failed`: the poll failed (libuv has stopped the watcher): read or write what can be, then end. */
type Ready = (failed: boolean) => void;

export class PtyMasterWatch {
  private watcher: FdWatcher | undefined;
  private onReadable: Ready | undefined;
  private onWritable: Ready | undefined;
  private closed = false;

  constructor(private readonly fd: number) {}

  /** Call `fn` whenever the master is readable (undefined: stop). Throws if the master can
   * no longer be watched (it was closed). */
  whenReadable(fn: Ready | undefined): void {
    this.onReadable = fn;
    this.update();
  }

  /** Call `fn` whenever the master can take a write (undefined: stop). Throws like
   * whenReadable. */
  whenWritable(fn: Ready | undefined): void {
    this.onWritable = fn;
    this.update();
  }

  /** Stop for good; call before closing the master. */
  close(): void {
    this.closed = true;
    this.onReadable = undefined;
    this.onWritable = undefined;
    this.watcher?.close();
    this.watcher = undefined;
  }

  private update(): void {
    if (this.closed) return;
    const events = (this.onReadable ? UV_READABLE : 0) | (this.onWritable ? UV_WRITABLE : 0);
    if (this.watcher) this.watcher.setEvents(events);
    else if (events !== 0) this.watcher = watchFd(this.fd, (err, ready) => this.dispatch(err !== null, ready), events);
  }

  /** A poll error (a hung-up or closed master; libuv stops the watcher then) goes to both
   * sides, which end. A hang-up of the slave side is reported as every watched event. */
  private dispatch(failed: boolean, ready: number): void {
    if (failed || ready & UV_READABLE) this.onReadable?.(failed);
    if (failed || ready & UV_WRITABLE) this.onWritable?.(failed);
  }
}
