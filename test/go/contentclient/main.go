// contentclient drives a containerd-compatible daemon with the containerd 1.6 Go client
// (github.com/containerd/containerd), one or more steps per run, and prints one JSON line
// per step on stdout. On the first failing step it prints
// {"step":…,"error":…,"code":<gRPC code name>} on stdout, the error on stderr, and exits 1.
//
//	contentclient -address SOCK -namespace NS -step writeblob -data hello
//	contentclient -address SOCK -step writeblob,info,deletelease-sync,info -data x
//
// Steps run in order and share state: the lease that writeblob (or createlease) created is
// the one deletelease-sync deletes, and the digest it wrote is the one info/readblob/label
// use unless -digest says otherwise. New steps: add a func to the steps map.
package main

import (
	"berth.test/go/internal/jsonl"
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/leases"
	"github.com/containerd/containerd/namespaces"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

type options struct {
	address    string
	namespace  string
	steps      string
	timeout    time.Duration
	data       string
	dataFile   string
	digest     string
	size       int64
	ref        string
	lease      string
	noLease    bool
	expiration time.Duration
	labels     multi
	fieldpaths multi
	filters    multi
}

// state carries results from one step to the next.
type state struct {
	client *containerd.Client
	opts   *options
	data   []byte
	digest digest.Digest
	size   int64
	lease  string
}

// result is one JSON line of output.
type result = jsonl.Result

type stepFunc func(ctx context.Context, s *state) (result, error)

var steps = map[string]stepFunc{
	"version":          stepVersion,
	"writeblob":        stepWriteBlob,
	"readblob":         stepReadBlob,
	"info":             stepInfo,
	"label":            stepLabel,
	"walk":             stepWalk,
	"delete":           stepDelete,
	"createlease":      stepCreateLease,
	"listleases":       stepListLeases,
	"deletelease":      stepDeleteLease(false),
	"deletelease-sync": stepDeleteLease(true),
}

func main() {
	o := &options{}
	flag.StringVar(&o.address, "address", "/run/containerd/containerd.sock", "daemon's gRPC socket")
	flag.StringVar(&o.namespace, "namespace", "default", "namespace")
	flag.StringVar(&o.steps, "step", "", "comma-separated steps: "+stepNames())
	flag.DurationVar(&o.timeout, "timeout", 30*time.Second, "overall timeout")
	flag.StringVar(&o.data, "data", "", "blob bytes (writeblob)")
	flag.StringVar(&o.dataFile, "data-file", "", "file with the blob bytes (writeblob; wins over -data)")
	flag.StringVar(&o.digest, "digest", "", "blob digest (default: of the data / of the last blob written)")
	flag.Int64Var(&o.size, "size", -1, "blob size for writeblob/readblob (default: len(data))")
	flag.StringVar(&o.ref, "ref", "", "ingest ref for writeblob (default: contentclient-<digest>)")
	flag.StringVar(&o.lease, "lease", "", "lease ID: used by writeblob instead of creating one, deleted by deletelease[-sync], created by createlease")
	flag.BoolVar(&o.noLease, "no-lease", false, "writeblob without a lease")
	flag.DurationVar(&o.expiration, "lease-expiration", time.Hour, "expiration of leases created here")
	flag.Var(&o.labels, "label", "label k=v (repeatable; writeblob, label, createlease); k= sets an empty value")
	flag.Var(&o.fieldpaths, "fieldpath", "field path for label, e.g. labels.k (repeatable)")
	flag.Var(&o.filters, "filter", "filter for walk/listleases (repeatable, ORed)")
	flag.Parse()

	if o.steps == "" {
		fmt.Fprintln(os.Stderr, "contentclient: -step is required; steps: "+stepNames())
		os.Exit(2)
	}
	var names []string
	for _, n := range strings.Split(o.steps, ",") {
		n = strings.TrimSpace(n)
		if _, ok := steps[n]; !ok {
			fmt.Fprintf(os.Stderr, "contentclient: unknown step %q; steps: %s\n", n, stepNames())
			os.Exit(2)
		}
		names = append(names, n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	ctx = namespaces.WithNamespace(ctx, o.namespace)

	client, err := containerd.New(o.address, containerd.WithDefaultNamespace(o.namespace), containerd.WithTimeout(10*time.Second))
	if err != nil {
		jsonl.Fail("connect", err)
	}
	defer client.Close()

	s := &state{client: client, opts: o, lease: o.lease, size: -1}
	if err := s.loadData(); err != nil {
		jsonl.Fail("args", err)
	}
	for _, n := range names {
		r, err := steps[n](ctx, s)
		if err != nil {
			jsonl.Fail(n, err)
		}
		if r == nil {
			r = result{}
		}
		r["step"] = n
		jsonl.Emit(r)
	}
}

func stepNames() string {
	var ns []string
	for n := range steps {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return strings.Join(ns, ", ")
}

func (s *state) loadData() error {
	o := s.opts
	switch {
	case o.dataFile != "":
		b, err := os.ReadFile(o.dataFile)
		if err != nil {
			return err
		}
		s.data = b
	default:
		s.data = []byte(o.data)
	}
	if o.digest != "" {
		d, err := digest.Parse(o.digest)
		if err != nil {
			return err
		}
		s.digest = d
	} else if o.data != "" || o.dataFile != "" {
		s.digest = digest.FromBytes(s.data)
	}
	if o.size >= 0 {
		s.size = o.size
	} else if o.data != "" || o.dataFile != "" {
		s.size = int64(len(s.data))
	}
	return nil
}

func (s *state) needDigest() (digest.Digest, error) {
	if s.digest == "" {
		return "", fmt.Errorf("no digest: pass -digest or -data, or run writeblob first: %w", errdefs.ErrInvalidArgument)
	}
	return s.digest, nil
}

func labelMap(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, kv := range kvs {
		i := strings.Index(kv, "=")
		if i < 0 {
			return nil, fmt.Errorf("label %q: want k=v: %w", kv, errdefs.ErrInvalidArgument)
		}
		m[kv[:i]] = kv[i+1:]
	}
	return m, nil
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func infoResult(i content.Info) result {
	labels := i.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return result{
		"digest":     i.Digest.String(),
		"size":       i.Size,
		"created_at": ts(i.CreatedAt),
		"updated_at": ts(i.UpdatedAt),
		"labels":     labels,
	}
}

func leaseResult(l leases.Lease) result {
	labels := l.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return result{"id": l.ID, "created_at": ts(l.CreatedAt), "labels": labels}
}

// ---------------------------------------------------------------- steps

func stepVersion(ctx context.Context, s *state) (result, error) {
	v, err := s.client.Version(ctx)
	if err != nil {
		return nil, err
	}
	return result{"version": v.Version, "revision": v.Revision}, nil
}

func (s *state) createLease(ctx context.Context, labels map[string]string) (leases.Lease, error) {
	opts := []leases.Opt{leases.WithExpiration(s.opts.expiration)}
	if s.opts.lease != "" {
		opts = append(opts, leases.WithID(s.opts.lease))
	} else {
		opts = append(opts, leases.WithRandomID())
	}
	if labels != nil {
		opts = append(opts, leases.WithLabels(labels))
	}
	return s.client.LeasesService().Create(ctx, opts...)
}

// writeblob: content.WriteBlob of the data under a lease (created here with a random ID
// and an expiration unless -lease names one, or -no-lease). WriteBlob itself treats an
// existing blob as success.
func stepWriteBlob(ctx context.Context, s *state) (result, error) {
	dgst, err := s.needDigest()
	if err != nil {
		return nil, err
	}
	size := s.size
	if size < 0 {
		size = int64(len(s.data))
	}
	labels, err := labelMap(s.opts.labels)
	if err != nil {
		return nil, err
	}
	r := result{}
	if !s.opts.noLease {
		if s.lease == "" {
			l, err := s.createLease(ctx, nil)
			if err != nil {
				return nil, fmt.Errorf("create lease: %w", err)
			}
			s.lease = l.ID
			r["lease_created"] = true
		}
		ctx = leases.WithLease(ctx, s.lease)
		r["lease"] = s.lease
	}
	ref := s.opts.ref
	if ref == "" {
		ref = "contentclient-" + dgst.String()
	}
	var opts []content.Opt
	if labels != nil {
		opts = append(opts, content.WithLabels(labels))
	}
	desc := ocispec.Descriptor{Digest: dgst, Size: size}
	if err := content.WriteBlob(ctx, s.client.ContentStore(), ref, bytes.NewReader(s.data), desc, opts...); err != nil {
		return nil, err
	}
	s.digest, s.size = dgst, size
	r["digest"] = dgst.String()
	r["size"] = size
	r["ref"] = ref
	return r, nil
}

func stepReadBlob(ctx context.Context, s *state) (result, error) {
	dgst, err := s.needDigest()
	if err != nil {
		return nil, err
	}
	desc := ocispec.Descriptor{Digest: dgst}
	if s.size >= 0 {
		desc.Size = s.size
	}
	b, err := content.ReadBlob(ctx, s.client.ContentStore(), desc)
	if err != nil {
		return nil, err
	}
	r := result{
		"digest":      dgst.String(),
		"size":        len(b),
		"data_base64": base64.StdEncoding.EncodeToString(b),
		"verified":    digest.FromBytes(b) == dgst,
	}
	if utf8.Valid(b) {
		r["data"] = string(b)
	}
	return r, nil
}

func stepInfo(ctx context.Context, s *state) (result, error) {
	dgst, err := s.needDigest()
	if err != nil {
		return nil, err
	}
	i, err := s.client.ContentStore().Info(ctx, dgst)
	if err != nil {
		return nil, err
	}
	return infoResult(i), nil
}

// label: ContentStore().Update with the -label values and -fieldpath paths (none: all labels replaced).
func stepLabel(ctx context.Context, s *state) (result, error) {
	dgst, err := s.needDigest()
	if err != nil {
		return nil, err
	}
	labels, err := labelMap(s.opts.labels)
	if err != nil {
		return nil, err
	}
	i, err := s.client.ContentStore().Update(ctx, content.Info{Digest: dgst, Labels: labels}, s.opts.fieldpaths...)
	if err != nil {
		return nil, err
	}
	return infoResult(i), nil
}

func stepWalk(ctx context.Context, s *state) (result, error) {
	infos := []result{}
	err := s.client.ContentStore().Walk(ctx, func(i content.Info) error {
		infos = append(infos, infoResult(i))
		return nil
	}, s.opts.filters...)
	if err != nil {
		return nil, err
	}
	return result{"infos": infos}, nil
}

func stepDelete(ctx context.Context, s *state) (result, error) {
	dgst, err := s.needDigest()
	if err != nil {
		return nil, err
	}
	if err := s.client.ContentStore().Delete(ctx, dgst); err != nil {
		return nil, err
	}
	return result{"digest": dgst.String()}, nil
}

func stepCreateLease(ctx context.Context, s *state) (result, error) {
	labels, err := labelMap(s.opts.labels)
	if err != nil {
		return nil, err
	}
	l, err := s.createLease(ctx, labels)
	if err != nil {
		return nil, err
	}
	s.lease = l.ID
	return leaseResult(l), nil
}

func stepListLeases(ctx context.Context, s *state) (result, error) {
	ls, err := s.client.LeasesService().List(ctx, s.opts.filters...)
	if err != nil {
		return nil, err
	}
	out := []result{}
	for _, l := range ls {
		out = append(out, leaseResult(l))
	}
	return result{"leases": out}, nil
}

func stepDeleteLease(sync bool) stepFunc {
	return func(ctx context.Context, s *state) (result, error) {
		if s.lease == "" {
			return nil, fmt.Errorf("no lease: pass -lease or run writeblob/createlease first: %w", errdefs.ErrInvalidArgument)
		}
		var opts []leases.DeleteOpt
		if sync {
			opts = append(opts, leases.SynchronousDelete)
		}
		if err := s.client.LeasesService().Delete(ctx, leases.Lease{ID: s.lease}, opts...); err != nil {
			return nil, err
		}
		return result{"lease": s.lease, "sync": sync}, nil
	}
}
