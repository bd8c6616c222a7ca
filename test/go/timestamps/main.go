// timestamps checks, with Go's nanosecond clock, that every time a containerd-compatible
// daemon returns lies between the client's own time.Now() readings taken just before
// and just after the call that set it, as containerd's content and snapshot test suites
// do ("unexpected updated at time … expected between … and …"). A daemon that cuts times
// to milliseconds returns times earlier than `before` whenever the call took less than
// the rest of that millisecond, so every check runs -rounds times.
//
// Covered: content ingest (Writer open, Write, Status), Commit, Info, Update; snapshot
// Prepare, Commit, Stat, Update (-snapshotter, default native); containers Create and
// Update; images Create and Update; leases Create; event envelopes (Publish, and the
// /containers/create event).
//
// Output: one JSON line per check kind, {"step", "checked", "outside"}, where outside
// counts times not within [before, after] and "first" describes the first of them; the
// last line is {"step":"done"}. Setup failures print {"step","error"} and exit 1.
//
//	timestamps -address SOCK [-namespace NAME] [-rounds N] [-snapshotter NAME]
package main

import (
	"berth.test/go/internal/jsonl"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/containerd/containerd"
	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/leases"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/typeurl"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// tally counts, per kind of time, how many were checked and how many fell outside.
type tally struct {
	order   []string
	checked map[string]int
	outside map[string]int
	first   map[string]string
}

func newTally() *tally {
	return &tally{checked: map[string]int{}, outside: map[string]int{}, first: map[string]string{}}
}

// within records whether t lies in [before, after] (wall clock, nanoseconds).
func (t *tally) within(kind string, got, before, after time.Time) {
	if _, seen := t.checked[kind]; !seen {
		t.order = append(t.order, kind)
	}
	t.checked[kind]++
	// Round(0) drops the monotonic reading: the daemon's times are wall times only.
	g, b, a := got.Round(0), before.Round(0), after.Round(0)
	if g.Before(b) || g.After(a) {
		t.outside[kind]++
		if _, ok := t.first[kind]; !ok {
			t.first[kind] = fmt.Sprintf("%s not between %s and %s",
				g.UTC().Format(time.RFC3339Nano), b.UTC().Format(time.RFC3339Nano), a.UTC().Format(time.RFC3339Nano))
		}
	}
}

// same records whether an unchanged time (CreatedAt after an update) stayed exactly equal.
func (t *tally) same(kind string, got, want time.Time) {
	t.within(kind, got, want, want)
}

func (t *tally) report() {
	for _, k := range t.order {
		r := jsonl.Result{"step": k, "checked": t.checked[k], "outside": t.outside[k]}
		if f, ok := t.first[k]; ok {
			r["first"] = f
		}
		jsonl.Emit(r)
	}
}

func main() {
	address := flag.String("address", "/run/containerd/containerd.sock", "daemon's gRPC socket")
	ns := flag.String("namespace", fmt.Sprintf("berth-ts-%d", os.Getpid()), "namespace to use")
	rounds := flag.Int("rounds", 10, "how many times each check runs")
	snapshotter := flag.String("snapshotter", "native", "snapshotter for the snapshot checks")
	timeout := flag.Duration("timeout", 120*time.Second, "overall timeout")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx = namespaces.WithNamespace(ctx, *ns)
	client, err := containerd.New(*address, containerd.WithDefaultNamespace(*ns), containerd.WithTimeout(10*time.Second))
	jsonl.Check("connect", err)
	defer client.Close()
	t := newTally()

	// ---- leases (and one to hold everything below until the end)
	lm := client.LeasesService()
	var held leases.Lease
	for i := 0; i < *rounds; i++ {
		before := time.Now()
		l, err := lm.Create(ctx, leases.WithID(fmt.Sprintf("ts-lease-%d", i)))
		after := time.Now()
		jsonl.Check("lease.create", err)
		t.within("lease.created", l.CreatedAt, before, after)
		if i == 0 {
			held = l
		} else {
			jsonl.Check("lease.delete", lm.Delete(ctx, l))
		}
	}
	lctx := leases.WithLease(ctx, held.ID)

	// ---- events: Publish stamps the envelope; subscribe first, probe until it is live
	subCtx, subCancel := context.WithCancel(ctx)
	defer subCancel()
	events, errs := client.EventService().Subscribe(subCtx, `topic~="^/(berth-ts|containers)/"`)
	type span struct{ before, after time.Time }
	probes := map[string]span{}
	live := false
	for i := 0; !live || len(probes) < *rounds; i++ {
		id := fmt.Sprintf("probe-%d", i)
		before := time.Now()
		err := client.EventService().Publish(ctx, "/berth-ts/probe", &eventstypes.ContainerCreate{ID: id})
		after := time.Now()
		jsonl.Check("event.publish", err)
		probes[id] = span{before, after}
		select {
		case e := <-events:
			ev, err := typeurl.UnmarshalAny(e.Event)
			jsonl.Check("event.decode", err)
			if cc, ok := ev.(*eventstypes.ContainerCreate); ok && e.Topic == "/berth-ts/probe" {
				s := probes[cc.ID]
				t.within("event.publish", e.Timestamp, s.before, s.after)
				live = true
			}
		case err := <-errs:
			jsonl.Check("event.subscribe", err)
		case <-time.After(200 * time.Millisecond):
		}
		if i > 200 {
			jsonl.Check("event.subscribe", fmt.Errorf("no probe event came back"))
		}
	}
	// Probes published after the subscription went live are still on their way.
	drain := func(want func(topic, id string) bool, onEvent func(topic, id string, ts time.Time)) {
		for {
			select {
			case e := <-events:
				ev, err := typeurl.UnmarshalAny(e.Event)
				jsonl.Check("event.decode", err)
				id := ""
				if cc, ok := ev.(*eventstypes.ContainerCreate); ok {
					id = cc.ID
				}
				onEvent(e.Topic, id, e.Timestamp)
				if want(e.Topic, id) {
					return
				}
			case err := <-errs:
				jsonl.Check("event.subscribe", err)
			case <-time.After(10 * time.Second):
				jsonl.Check("event.wait", fmt.Errorf("event did not arrive within 10s"))
			}
		}
	}

	// ---- content: ingest, write, commit, info, update
	cs := client.ContentStore()
	for i := 0; i < *rounds; i++ {
		data := []byte(fmt.Sprintf("berth timestamps %d %s", i, *ns))
		dgst := digest.FromBytes(data)
		desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: dgst, Size: int64(len(data))}
		preStart := time.Now()
		w, err := cs.Writer(lctx, content.WithRef(fmt.Sprintf("ts-ref-%d", i)), content.WithDescriptor(desc))
		postStart := time.Now()
		jsonl.Check("content.writer", err)
		st, err := w.Status()
		jsonl.Check("content.status", err)
		t.within("content.status.started", st.StartedAt, preStart, postStart)
		t.within("content.status.updated-at-start", st.UpdatedAt, preStart, postStart)
		preUpdate := time.Now()
		_, err = w.Write(data)
		postUpdate := time.Now()
		jsonl.Check("content.write", err)
		st, err = w.Status()
		jsonl.Check("content.status", err)
		t.within("content.status.started", st.StartedAt, preStart, postStart)
		t.within("content.status.updated-after-write", st.UpdatedAt, preUpdate, postUpdate)
		preCommit := time.Now()
		jsonl.Check("content.commit", w.Commit(lctx, desc.Size, dgst, content.WithLabels(map[string]string{"berth.test/i": "1"})))
		postCommit := time.Now()
		info, err := cs.Info(ctx, dgst)
		jsonl.Check("content.info", err)
		t.within("content.info.created", info.CreatedAt, preCommit, postCommit)
		t.within("content.info.updated", info.UpdatedAt, preCommit, postCommit)
		preLabel := time.Now()
		up, err := cs.Update(ctx, content.Info{Digest: dgst, Labels: map[string]string{"berth.test/u": "2"}}, "labels.berth.test/u")
		postLabel := time.Now()
		jsonl.Check("content.update", err)
		t.within("content.update.updated", up.UpdatedAt, preLabel, postLabel)
		t.same("content.update.created-unchanged", up.CreatedAt, info.CreatedAt)
		info, err = cs.Info(ctx, dgst)
		jsonl.Check("content.info", err)
		t.same("content.info.updated-as-returned", info.UpdatedAt, up.UpdatedAt)
	}

	// ---- snapshots: prepare, stat, update, commit
	sn := client.SnapshotService(*snapshotter)
	for i := 0; i < *rounds; i++ {
		key := fmt.Sprintf("ts-active-%d", i)
		before := time.Now()
		_, err := sn.Prepare(lctx, key, "")
		after := time.Now()
		jsonl.Check("snapshot.prepare", err)
		info, err := sn.Stat(ctx, key)
		jsonl.Check("snapshot.stat", err)
		t.within("snapshot.prepare.created", info.Created, before, after)
		t.within("snapshot.prepare.updated", info.Updated, before, after)
		preLabel := time.Now()
		up, err := sn.Update(ctx, snapshots.Info{Name: key, Labels: map[string]string{"berth.test/s": "1"}}, "labels.berth.test/s")
		postLabel := time.Now()
		jsonl.Check("snapshot.update", err)
		t.within("snapshot.update.updated", up.Updated, preLabel, postLabel)
		t.same("snapshot.update.created-unchanged", up.Created, info.Created)
		name := fmt.Sprintf("ts-committed-%d", i)
		preCommit := time.Now()
		jsonl.Check("snapshot.commit", sn.Commit(lctx, name, key))
		postCommit := time.Now()
		info, err = sn.Stat(ctx, name)
		jsonl.Check("snapshot.stat", err)
		t.within("snapshot.commit.created", info.Created, preCommit, postCommit)
		jsonl.Check("snapshot.remove", sn.Remove(ctx, name))
	}

	// ---- containers: create (+ its event), update
	spec, err := typeurl.MarshalAny(&specs.Spec{Version: specs.Version, Root: &specs.Root{Path: "rootfs"}})
	jsonl.Check("container.spec", err)
	ctrs := client.ContainerService()
	for i := 0; i < *rounds; i++ {
		id := fmt.Sprintf("ts-c%d", i)
		before := time.Now()
		c, err := ctrs.Create(ctx, containers.Container{ID: id, Runtime: containers.RuntimeInfo{Name: "io.containerd.runc.v2"}, Spec: spec})
		after := time.Now()
		jsonl.Check("container.create", err)
		t.within("container.create.created", c.CreatedAt, before, after)
		t.within("container.create.updated", c.UpdatedAt, before, after)
		// The event is published inside the Create call, so it is stamped within it too.
		drain(func(topic, got string) bool { return topic == "/containers/create" && got == id }, func(topic, got string, ts time.Time) {
			if topic == "/containers/create" && got == id {
				t.within("event.container-create", ts, before, after)
			}
		})
		preUp := time.Now()
		c.Labels = map[string]string{"berth.test/c": "1"}
		up, err := ctrs.Update(ctx, c, "labels.berth.test/c")
		postUp := time.Now()
		jsonl.Check("container.update", err)
		t.within("container.update.updated", up.UpdatedAt, preUp, postUp)
		t.same("container.update.created-unchanged", up.CreatedAt, c.CreatedAt)
		got, err := ctrs.Get(ctx, id)
		jsonl.Check("container.get", err)
		t.same("container.get.updated-as-returned", got.UpdatedAt, up.UpdatedAt)
		jsonl.Check("container.delete", ctrs.Delete(ctx, id))
	}

	// ---- images: create, update
	is := client.ImageService()
	target := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(bytes.Repeat([]byte("m"), 10)), Size: 10}
	for i := 0; i < *rounds; i++ {
		name := fmt.Sprintf("berth.test/timestamps:%d", i)
		before := time.Now()
		img, err := is.Create(ctx, images.Image{Name: name, Target: target})
		after := time.Now()
		jsonl.Check("image.create", err)
		t.within("image.create.created", img.CreatedAt, before, after)
		t.within("image.create.updated", img.UpdatedAt, before, after)
		preUp := time.Now()
		img.Labels = map[string]string{"berth.test/i": "1"}
		up, err := is.Update(ctx, img, "labels.berth.test/i")
		postUp := time.Now()
		jsonl.Check("image.update", err)
		t.within("image.update.updated", up.UpdatedAt, preUp, postUp)
		t.same("image.update.created-unchanged", up.CreatedAt, img.CreatedAt)
		got, err := is.Get(ctx, name)
		jsonl.Check("image.get", err)
		t.same("image.get.updated-as-returned", got.UpdatedAt, up.UpdatedAt)
		jsonl.Check("image.delete", is.Delete(ctx, name))
	}

	subCancel()
	t.report()
	jsonl.Check("lease.delete", lm.Delete(ctx, held))
	jsonl.Emit(jsonl.Result{"step": "done"})
}
