// basic drives a containerd-compatible daemon through the containerd 1.6 Go client's
// metadata APIs and prints one JSON line per thing it saw:
//
//	version; namespaces Create/List/Labels/SetLabel; leases Create/List/Delete;
//	Subscribe; containers Create (+ the /containers/create event)/Get/List/Update/Delete;
//	namespace Delete.
//
// Every line has "step"; the last one is {"step":"done","ok":true}. On the first failure
// it prints {"step":…,"error":…,"code":…}, the error on stderr, and exits 1.
//
//	basic -address SOCK [-namespace NAME]
package main

import (
	"berth.test/go/internal/jsonl"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/containerd/containerd"
	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/leases"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/typeurl"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func expect(step string, ok bool, format string, args ...interface{}) {
	if !ok {
		jsonl.Check(step, fmt.Errorf("unexpected: "+format, args...))
	}
}

func contains(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}

const probeTopic = "/berth-basic/probe"

func main() {
	address := flag.String("address", "/run/containerd/containerd.sock", "daemon's gRPC socket")
	ns := flag.String("namespace", fmt.Sprintf("berth-basic-%d", os.Getpid()), "namespace to create, use and delete")
	timeout := flag.Duration("timeout", 60*time.Second, "overall timeout")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx = namespaces.WithNamespace(ctx, *ns)

	client, err := containerd.New(*address, containerd.WithDefaultNamespace(*ns), containerd.WithTimeout(10*time.Second))
	jsonl.Check("connect", err)
	defer client.Close()

	// ---- version
	v, err := client.Version(ctx)
	jsonl.Check("version", err)
	jsonl.Emit(jsonl.Result{"step": "version", "version": v.Version, "revision": v.Revision})

	// ---- namespaces
	nss := client.NamespaceService()
	jsonl.Check("namespace.create", nss.Create(ctx, *ns, map[string]string{"berth.test/a": "1"}))
	jsonl.Emit(jsonl.Result{"step": "namespace.create", "name": *ns})
	err = nss.Create(ctx, *ns, nil)
	expect("namespace.create-again", errdefs.IsAlreadyExists(err), "second Create: want AlreadyExists, got %v", err)
	jsonl.Emit(jsonl.Result{"step": "namespace.create-again", "code": jsonl.Code(err)})
	names, err := nss.List(ctx)
	jsonl.Check("namespace.list", err)
	expect("namespace.list", contains(names, *ns), "%q not in %v", *ns, names)
	jsonl.Emit(jsonl.Result{"step": "namespace.list", "names": names})
	jsonl.Check("namespace.setlabel", nss.SetLabel(ctx, *ns, "berth.test/b", "2"))
	jsonl.Check("namespace.setlabel", nss.SetLabel(ctx, *ns, "berth.test/a", ""))
	labels, err := nss.Labels(ctx, *ns)
	jsonl.Check("namespace.labels", err)
	expect("namespace.labels", len(labels) == 1 && labels["berth.test/b"] == "2", "labels %v", labels)
	jsonl.Emit(jsonl.Result{"step": "namespace.labels", "labels": labels})

	// ---- leases
	lm := client.LeasesService()
	l, err := lm.Create(ctx, leases.WithRandomID(), leases.WithExpiration(time.Hour), leases.WithLabels(map[string]string{"berth.test/l": "x"}))
	jsonl.Check("lease.create", err)
	jsonl.Emit(jsonl.Result{"step": "lease.create", "id": l.ID, "labels": l.Labels})
	ls, err := lm.List(ctx)
	jsonl.Check("lease.list", err)
	var ids []string
	for _, x := range ls {
		ids = append(ids, x.ID)
	}
	expect("lease.list", contains(ids, l.ID), "lease %q not in %v", l.ID, ids)
	filtered, err := lm.List(ctx, `labels."berth.test/l"==x`)
	jsonl.Check("lease.list-filter", err)
	expect("lease.list-filter", len(filtered) == 1 && filtered[0].ID == l.ID, "filtered %v", filtered)
	jsonl.Emit(jsonl.Result{"step": "lease.list", "ids": ids})
	jsonl.Check("lease.delete", lm.Delete(ctx, l))
	err = lm.Delete(ctx, l)
	expect("lease.delete-again", errdefs.IsNotFound(err), "second Delete: want NotFound, got %v", err)
	jsonl.Emit(jsonl.Result{"step": "lease.delete", "id": l.ID, "again": jsonl.Code(err)})

	// ---- subscribe (and make sure the subscription is live before creating anything:
	// publish probes until one comes back)
	subCtx, subCancel := context.WithCancel(ctx)
	defer subCancel()
	events, errs := client.Subscribe(subCtx, `topic=="/containers/create"`, `topic=="`+probeTopic+`"`)
	probes := 0
	for ready := false; !ready; {
		probes++
		jsonl.Check("subscribe.probe", client.EventService().Publish(ctx, probeTopic, &eventstypes.NamespaceUpdate{Name: *ns}))
		select {
		case e := <-events:
			ready = e.Topic == probeTopic
		case err := <-errs:
			jsonl.Check("subscribe", err)
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			jsonl.Check("subscribe", ctx.Err())
		}
	}
	jsonl.Emit(jsonl.Result{"step": "subscribe", "probes": probes})

	// ---- containers
	cs := client.ContainerService()
	spec, err := typeurl.MarshalAny(&specs.Spec{
		Version:  specs.Version,
		Process:  &specs.Process{Args: []string{"/bin/sh"}, Cwd: "/"},
		Root:     &specs.Root{Path: "rootfs"},
		Hostname: "basic",
	})
	jsonl.Check("container.spec", err)
	id := "basic-c1"
	created, err := cs.Create(ctx, containers.Container{
		ID:      id,
		Labels:  map[string]string{"berth.test/c": "1"},
		Image:   "docker.io/library/busybox:latest",
		Runtime: containers.RuntimeInfo{Name: "io.containerd.runc.v2"},
		Spec:    spec,
	})
	jsonl.Check("container.create", err)
	expect("container.create", created.ID == id && !created.CreatedAt.IsZero(), "created %+v", created)
	jsonl.Emit(jsonl.Result{"step": "container.create", "id": created.ID, "spec_type_url": created.Spec.TypeUrl})

	for seen := false; !seen; {
		select {
		case e := <-events:
			if e.Topic != "/containers/create" {
				continue
			}
			ev, err := typeurl.UnmarshalAny(e.Event)
			jsonl.Check("event", err)
			cc, ok := ev.(*eventstypes.ContainerCreate)
			expect("event", ok, "event type %T", ev)
			expect("event", cc.ID == id && e.Namespace == *ns, "event %+v in %q", cc, e.Namespace)
			runtime := ""
			if cc.Runtime != nil {
				runtime = cc.Runtime.Name
			}
			jsonl.Emit(jsonl.Result{"step": "event", "topic": e.Topic, "namespace": e.Namespace, "id": cc.ID, "image": cc.Image, "runtime": runtime})
			seen = true
		case err := <-errs:
			jsonl.Check("event", err)
		case <-time.After(10 * time.Second):
			jsonl.Check("event", fmt.Errorf("no /containers/create event within 10s"))
		}
	}
	subCancel()

	_, err = cs.Create(ctx, containers.Container{ID: id, Runtime: containers.RuntimeInfo{Name: "io.containerd.runc.v2"}, Spec: spec})
	expect("container.create-again", errdefs.IsAlreadyExists(err), "second Create: want AlreadyExists, got %v", err)

	got, err := cs.Get(ctx, id)
	jsonl.Check("container.get", err)
	var back specs.Spec
	jsonl.Check("container.get", json.Unmarshal(got.Spec.Value, &back))
	expect("container.get", got.Image == created.Image && got.Runtime.Name == "io.containerd.runc.v2" && back.Hostname == "basic",
		"got %+v", got)
	jsonl.Emit(jsonl.Result{"step": "container.get", "id": got.ID, "image": got.Image, "runtime": got.Runtime.Name, "labels": got.Labels, "hostname": back.Hostname})

	list, err := cs.List(ctx)
	jsonl.Check("container.list", err)
	var cids []string
	for _, c := range list {
		cids = append(cids, c.ID)
	}
	sort.Strings(cids)
	expect("container.list", contains(cids, id), "%q not in %v", id, cids)
	byLabel, err := cs.List(ctx, `labels."berth.test/c"==1`)
	jsonl.Check("container.list-filter", err)
	expect("container.list-filter", len(byLabel) == 1, "filtered %d", len(byLabel))
	jsonl.Emit(jsonl.Result{"step": "container.list", "ids": cids})

	got.Labels = map[string]string{"berth.test/c": "2", "berth.test/d": "x"}
	got.Image = "ignored:because-not-in-fieldpaths"
	updated, err := cs.Update(ctx, got, "labels.berth.test/c")
	jsonl.Check("container.update", err)
	expect("container.update", updated.Labels["berth.test/c"] == "2" && updated.Labels["berth.test/d"] == "" && updated.Image == created.Image,
		"updated %+v", updated)
	expect("container.update", updated.UpdatedAt.After(created.UpdatedAt) || updated.UpdatedAt.Equal(created.UpdatedAt), "updated_at went back")
	jsonl.Emit(jsonl.Result{"step": "container.update", "labels": updated.Labels, "image": updated.Image})

	jsonl.Check("container.delete", cs.Delete(ctx, id))
	_, err = cs.Get(ctx, id)
	expect("container.get-deleted", errdefs.IsNotFound(err), "Get after Delete: want NotFound, got %v", err)
	jsonl.Emit(jsonl.Result{"step": "container.delete", "id": id, "get_after": jsonl.Code(err)})

	// ---- namespace delete (empty now)
	jsonl.Check("namespace.delete", nss.Delete(ctx, *ns))
	names, err = nss.List(ctx)
	jsonl.Check("namespace.list", err)
	expect("namespace.delete", !contains(names, *ns), "%q still in %v", *ns, names)
	jsonl.Emit(jsonl.Result{"step": "namespace.delete", "name": *ns})

	jsonl.Emit(jsonl.Result{"step": "done", "ok": true})
}
