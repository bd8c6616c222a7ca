// ocispec builds OCI runtime specs with containerd v1.6.20's own oci package (and
// contrib/seccomp for the default seccomp profile, pkg/cri/opts for the few options only
// containerd's CRI has) so that test/e2e/ocispec-go.test.ts can compare berth's src/oci with
// them. It reads a JSON list of cases on stdin:
//
//	[{"name": "…", "namespace": "default", "id": "c1", "rootfs": "/tmp/x",
//	  "opts": [{"op": "withProcessArgs", "params": [["sh", "-c", "true"]]}, …]}, …]
//
// and prints one JSON line per case: {"name", "spec"} or {"name", "error"}. Option names
// are berth's (containerd's oci.WithX is withX); params are the option's arguments in order.
//
// rootfs is where the user options read /etc/passwd and /etc/group. containerd reads them
// from s.Root.Path when the container has no snapshot, so the program points root.path at
// rootfs while the options run and puts back the default "rootfs" afterwards: the output
// is the spec a container with that root filesystem gets.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/contrib/seccomp"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	criopts "github.com/containerd/containerd/pkg/cri/opts"
	osinterface "github.com/containerd/containerd/pkg/os"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

type option struct {
	Op     string            `json:"op"`
	Params []json.RawMessage `json:"params"`
}

type testCase struct {
	Name      string   `json:"name"`
	Namespace string   `json:"namespace"`
	ID        string   `json:"id"`
	Rootfs    string   `json:"rootfs"`
	Opts      []option `json:"opts"`
}

// blobImage is an oci.Image whose config blob is held in memory: WithImageConfig reads
// it through content.ReadBlob, which needs only ReaderAt of the store.
type blobImage struct {
	content.Store // nil: only ReaderAt is called
	blob          []byte
}

func (i *blobImage) Config(context.Context) (ocispec.Descriptor, error) {
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(i.blob), Size: int64(len(i.blob))}, nil
}

func (i *blobImage) ContentStore() content.Store { return i }

func (i *blobImage) ReaderAt(context.Context, ocispec.Descriptor) (content.ReaderAt, error) {
	return blobReader{bytes.NewReader(i.blob)}, nil
}

type blobReader struct{ *bytes.Reader }

func (blobReader) Close() error { return nil }

// param decodes params[i] into v.
func param(o option, i int, v interface{}) {
	if i >= len(o.Params) {
		panic(fmt.Sprintf("%s: parameter %d missing", o.Op, i))
	}
	if err := json.Unmarshal(o.Params[i], v); err != nil {
		panic(fmt.Sprintf("%s: parameter %d: %v", o.Op, i, err))
	}
}

func str(o option, i int) string {
	var s string
	param(o, i, &s)
	return s
}

func strs(o option, i int) []string {
	var s []string
	param(o, i, &s)
	return s
}

func num(o option, i int) int64 {
	var n int64
	param(o, i, &n)
	return n
}

func strMap(o option, i int) map[string]string {
	var m map[string]string
	param(o, i, &m)
	return m
}

func imageOf(o option, i int) oci.Image {
	var config json.RawMessage
	param(o, i, &config)
	blob, err := json.Marshal(map[string]json.RawMessage{"config": config})
	if err != nil {
		panic(err)
	}
	return &blobImage{blob: blob}
}

// criMounts decodes params[i], a list of berth's CRIMount, into CRI's Mount.
func criMounts(o option, i int) []*runtime.Mount {
	var mounts []struct {
		ContainerPath  string `json:"containerPath"`
		HostPath       string `json:"hostPath"`
		Readonly       bool   `json:"readonly"`
		SelinuxRelabel bool   `json:"selinuxRelabel"`
		Propagation    string `json:"propagation"`
	}
	if i < len(o.Params) {
		param(o, i, &mounts)
	}
	var out []*runtime.Mount
	for _, m := range mounts {
		propagation := runtime.MountPropagation_PROPAGATION_PRIVATE
		if m.Propagation != "" {
			v, ok := runtime.MountPropagation_value[m.Propagation]
			if !ok {
				panic("unknown propagation " + m.Propagation)
			}
			propagation = runtime.MountPropagation(v)
		}
		out = append(out, &runtime.Mount{ContainerPath: m.ContainerPath, HostPath: m.HostPath, Readonly: m.Readonly, SelinuxRelabel: m.SelinuxRelabel, Propagation: propagation})
	}
	return out
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// specOpt maps one berth option name to containerd's.
func specOpt(o option) oci.SpecOpts {
	switch o.Op {
	case "withDefaultSpec":
		return oci.WithDefaultSpec()
	case "withProcessArgs":
		return oci.WithProcessArgs(strs(o, 0)...)
	case "withProcessCwd":
		return oci.WithProcessCwd(str(o, 0))
	case "withEnv":
		return oci.WithEnv(strs(o, 0))
	case "withDefaultPathEnv":
		return oci.WithDefaultPathEnv
	case "withTTY":
		return oci.WithTTY
	case "withTTYSize":
		return oci.WithTTYSize(int(num(o, 0)), int(num(o, 1)))
	case "withHostname":
		return oci.WithHostname(str(o, 0))
	case "withNoNewPrivileges":
		return oci.WithNoNewPrivileges
	case "withNewPrivileges":
		return oci.WithNewPrivileges
	case "withApparmorProfile":
		return oci.WithApparmorProfile(str(o, 0))
	case "withSelinuxLabel":
		return oci.WithSelinuxLabel(str(o, 0))
	case "withOOMScoreAdj":
		var restrict bool
		if len(o.Params) > 1 {
			param(o, 1, &restrict)
		}
		return criopts.WithPodOOMScoreAdj(int(num(o, 0)), restrict)
	case "withAnnotations":
		return oci.WithAnnotations(strMap(o, 0))
	case "withImageConfig":
		return oci.WithImageConfig(imageOf(o, 0))
	case "withImageConfigArgs":
		return oci.WithImageConfigArgs(imageOf(o, 0), strs(o, 1))
	case "withUser":
		return oci.WithUser(str(o, 0))
	case "withUserID":
		return oci.WithUserID(uint32(num(o, 0)))
	case "withUsername":
		return oci.WithUsername(str(o, 0))
	case "withUIDGID":
		return oci.WithUIDGID(uint32(num(o, 0)), uint32(num(o, 1)))
	case "withAdditionalGIDs":
		return oci.WithAdditionalGIDs(str(o, 0))
	case "withAppendAdditionalGroups":
		return oci.WithAppendAdditionalGroups(strs(o, 0)...)
	case "withSupplementalGroups":
		var gids []int64
		param(o, 0, &gids)
		return criopts.WithSupplementalGroups(gids)
	case "withMounts":
		var mounts []specs.Mount
		param(o, 0, &mounts)
		return oci.WithMounts(mounts)
	case "withoutMounts":
		return oci.WithoutMounts(strs(o, 0)...)
	case "withoutRunMount":
		return oci.WithoutRunMount
	case "withHostHostsFile":
		return oci.WithHostHostsFile
	case "withHostResolvconf":
		return oci.WithHostResolvconf
	case "withHostLocaltime":
		return oci.WithHostLocaltime
	case "withDevShmSize":
		return oci.WithDevShmSize(num(o, 0))
	case "withWriteableSysfs":
		return oci.WithWriteableSysfs
	case "withWriteableCgroupfs":
		return oci.WithWriteableCgroupfs
	case "withRootFSPath":
		return oci.WithRootFSPath(str(o, 0))
	case "withRootFSReadonly":
		return oci.WithRootFSReadonly()
	case "withHostNamespace":
		return oci.WithHostNamespace(specs.LinuxNamespaceType(str(o, 0)))
	case "withLinuxNamespace":
		var ns specs.LinuxNamespace
		param(o, 0, &ns)
		return oci.WithLinuxNamespace(ns)
	case "withUserNamespace":
		var uids, gids []specs.LinuxIDMapping
		param(o, 0, &uids)
		param(o, 1, &gids)
		return oci.WithUserNamespace(uids, gids)
	case "withCgroup":
		return oci.WithCgroup(str(o, 0))
	case "withNamespacedCgroup":
		return oci.WithNamespacedCgroup()
	case "withMaskedPaths":
		return oci.WithMaskedPaths(strs(o, 0))
	case "withReadonlyPaths":
		return oci.WithReadonlyPaths(strs(o, 0))
	case "withSysctls":
		return criopts.WithSysctls(strMap(o, 0))
	case "withSeccompUnconfined":
		return oci.WithSeccompUnconfined
	case "withMemoryLimit":
		return oci.WithMemoryLimit(uint64(num(o, 0)))
	case "withMemorySwap":
		return oci.WithMemorySwap(num(o, 0))
	case "withCPUShares":
		return oci.WithCPUShares(uint64(num(o, 0)))
	case "withCPUs":
		return oci.WithCPUs(str(o, 0))
	case "withCPUsMems":
		return oci.WithCPUsMems(str(o, 0))
	case "withCPUCFS":
		return oci.WithCPUCFS(num(o, 0), uint64(num(o, 1)))
	case "withPidsLimit":
		return oci.WithPidsLimit(num(o, 0))
	case "withCapabilities":
		return oci.WithCapabilities(strs(o, 0))
	case "withAddedCapabilities":
		return oci.WithAddedCapabilities(strs(o, 0))
	case "withDroppedCapabilities":
		return oci.WithDroppedCapabilities(strs(o, 0))
	case "withAmbientCapabilities":
		return oci.WithAmbientCapabilities(strs(o, 0))
	case "withAllKnownCapabilities":
		return oci.WithAllKnownCapabilities
	case "withAllCurrentCapabilities":
		return oci.WithAllCurrentCapabilities
	case "withPrivileged":
		return oci.WithPrivileged
	case "withDevices":
		return oci.WithDevices(str(o, 0), str(o, 1), str(o, 2))
	case "withLinuxDevice":
		return oci.WithLinuxDevice(str(o, 0), str(o, 1))
	case "withLinuxDevices":
		var devices []specs.LinuxDevice
		param(o, 0, &devices)
		return oci.WithLinuxDevices(devices)
	case "withHostDevices":
		return oci.WithHostDevices
	case "withAllDevicesAllowed":
		return oci.WithAllDevicesAllowed
	case "withParentCgroupDevices":
		return oci.WithParentCgroupDevices
	case "withDefaultUnixDevices":
		return oci.WithDefaultUnixDevices
	case "withDefaultSeccompProfile":
		return seccomp.WithDefaultProfile()
	case "withSeccompProfile":
		return seccomp.WithProfile(str(o, 0))

	// containerd's CRI (pkg/cri/opts).
	case "withCRIProcessArgs":
		var image ocispec.ImageConfig
		param(o, 2, &image)
		// An empty repeated field arrives from the CRI wire as nil, never as an empty slice.
		return criopts.WithProcessArgs(&runtime.ContainerConfig{Command: nilIfEmpty(strs(o, 0)), Args: nilIfEmpty(strs(o, 1))}, &image)
	case "withCRICapabilities":
		var changes *struct {
			Add  []string `json:"add"`
			Drop []string `json:"drop"`
		}
		param(o, 0, &changes)
		sc := &runtime.LinuxContainerSecurityContext{}
		if changes != nil {
			sc.Capabilities = &runtime.Capability{AddCapabilities: changes.Add, DropCapabilities: changes.Drop}
		}
		return criopts.WithCapabilities(sc, strs(o, 1))
	case "withCRIAdditionalGIDs":
		return criopts.WithAdditionalGIDs(str(o, 0))
	case "withoutNamespace":
		return criopts.WithoutNamespace(specs.LinuxNamespaceType(str(o, 0)))
	case "withPodNamespaces":
		mode, ok := runtime.NamespaceMode_value[str(o, 0)]
		if !ok {
			panic("unknown namespace mode " + str(o, 0))
		}
		sc := &runtime.LinuxContainerSecurityContext{NamespaceOptions: &runtime.NamespaceOption{Pid: runtime.NamespaceMode(mode)}}
		return criopts.WithPodNamespaces(sc, uint32(num(o, 1)), uint32(num(o, 2)))
	case "withoutAmbientCapabilities":
		return criopts.WithoutAmbientCaps
	case "withoutDefaultSecuritySettings":
		return criopts.WithoutDefaultSecuritySettings
	case "withDisabledCgroups":
		return criopts.WithDisabledCgroups
	case "withRelativeRoot":
		return criopts.WithRelativeRoot(str(o, 0))
	case "withoutRoot":
		return criopts.WithoutRoot
	case "withDefaultSandboxShares":
		return criopts.WithDefaultSandboxShares
	case "withCRIMounts":
		return criopts.WithMounts(osinterface.RealOS{}, &runtime.ContainerConfig{Mounts: criMounts(o, 0)}, criMounts(o, 1), "")
	case "withCRIDevices":
		var devices []struct {
			ContainerPath string `json:"containerPath"`
			HostPath      string `json:"hostPath"`
			Permissions   string `json:"permissions"`
		}
		var owner *struct {
			RunAsUser  *int64 `json:"runAsUser"`
			RunAsGroup *int64 `json:"runAsGroup"`
		}
		param(o, 0, &devices)
		if len(o.Params) > 1 {
			param(o, 1, &owner)
		}
		config := &runtime.ContainerConfig{Linux: &runtime.LinuxContainerConfig{SecurityContext: &runtime.LinuxContainerSecurityContext{}}}
		for _, d := range devices {
			config.Devices = append(config.Devices, &runtime.Device{ContainerPath: d.ContainerPath, HostPath: d.HostPath, Permissions: d.Permissions})
		}
		if owner != nil {
			if owner.RunAsUser != nil {
				config.Linux.SecurityContext.RunAsUser = &runtime.Int64Value{Value: *owner.RunAsUser}
			}
			if owner.RunAsGroup != nil {
				config.Linux.SecurityContext.RunAsGroup = &runtime.Int64Value{Value: *owner.RunAsGroup}
			}
		}
		return criopts.WithDevices(osinterface.RealOS{}, config, owner != nil)
	case "withCRIResources":
		var r *struct {
			CPUPeriod              int64             `json:"cpuPeriod"`
			CPUQuota               int64             `json:"cpuQuota"`
			CPUShares              int64             `json:"cpuShares"`
			MemoryLimitInBytes     int64             `json:"memoryLimitInBytes"`
			OomScoreAdj            int64             `json:"oomScoreAdj"`
			CpusetCpus             string            `json:"cpusetCpus"`
			CpusetMems             string            `json:"cpusetMems"`
			Unified                map[string]string `json:"unified"`
			MemorySwapLimitInBytes int64             `json:"memorySwapLimitInBytes"`
			HugepageLimits         []struct {
				PageSize string `json:"pageSize"`
				Limit    uint64 `json:"limit"`
			} `json:"hugepageLimits"`
		}
		// Absent: containerd's CRI config defaults (both true).
		var policy struct {
			TolerateMissingHugetlbController *bool `json:"tolerateMissingHugetlbController"`
			DisableHugetlbController         *bool `json:"disableHugetlbController"`
		}
		param(o, 0, &r)
		if len(o.Params) > 1 {
			param(o, 1, &policy)
		}
		var resources *runtime.LinuxContainerResources
		if r != nil {
			resources = &runtime.LinuxContainerResources{
				CpuPeriod: r.CPUPeriod, CpuQuota: r.CPUQuota, CpuShares: r.CPUShares,
				MemoryLimitInBytes: r.MemoryLimitInBytes, OomScoreAdj: r.OomScoreAdj,
				CpusetCpus: r.CpusetCpus, CpusetMems: r.CpusetMems, Unified: r.Unified,
				MemorySwapLimitInBytes: r.MemorySwapLimitInBytes,
			}
			for _, h := range r.HugepageLimits {
				resources.HugepageLimits = append(resources.HugepageLimits, &runtime.HugepageLimit{PageSize: h.PageSize, Limit: h.Limit})
			}
		}
		orTrue := func(b *bool) bool { return b == nil || *b }
		return criopts.WithResources(resources, orTrue(policy.TolerateMissingHugetlbController), orTrue(policy.DisableHugetlbController))
	}
	panic(fmt.Sprintf("unknown option %q", o.Op))
}

// build runs one case; an unknown option or a bad parameter is reported as the case's error.
func build(tc testCase) (spec *specs.Spec, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	ctx := context.Background()
	if tc.Namespace != "" {
		ctx = namespaces.WithNamespace(ctx, tc.Namespace)
	}
	var opts []oci.SpecOpts
	if tc.Rootfs != "" {
		opts = append(opts, func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
			s.Root.Path = tc.Rootfs
			return nil
		})
	}
	for _, o := range tc.Opts {
		opts = append(opts, specOpt(o))
	}
	if tc.Rootfs != "" {
		opts = append(opts, func(_ context.Context, _ oci.Client, _ *containers.Container, s *specs.Spec) error {
			if s.Root != nil && s.Root.Path == tc.Rootfs {
				s.Root.Path = "rootfs"
			}
			return nil
		})
	}
	return oci.GenerateSpec(ctx, nil, &containers.Container{ID: tc.ID}, opts...)
}

func main() {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var cases []testCase
	if err := json.Unmarshal(input, &cases); err != nil {
		fmt.Fprintln(os.Stderr, "cases:", err)
		os.Exit(2)
	}
	enc := json.NewEncoder(os.Stdout)
	for _, tc := range cases {
		spec, err := build(tc)
		line := map[string]interface{}{"name": tc.Name}
		if err != nil {
			line["error"] = err.Error()
		} else {
			line["spec"] = spec
		}
		if err := enc.Encode(line); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
}
