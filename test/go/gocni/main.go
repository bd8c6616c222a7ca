// gocni sets up and tears down one pod's networks with containerd's go-cni (v1.1.6, the
// version containerd 1.6.20's CRI uses), called as that CRI calls it in RunPodSandbox and
// StopPodSandbox: loopback plus the first config of conf_dir, CNI_ARGS from toCNILabels,
// the pod-annotations capability always, port mappings, bandwidth and DNS when given.
// test/e2e/cni-gocni.test.ts runs it and berth's src/cni over the same recording plugins
// and compares what each plugin received.
//
//	gocni -conf-dir D -bin-dir B -netns P -id ID
//
// Prints one JSON line {"ip": ..., "additionalIps": [...]} after Setup, then runs Remove.
// libcni caches results in /var/lib/cni: the test runs it in a private mount namespace with
// a tmpfs there.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	gocni "github.com/containerd/go-cni"
)

func main() {
	confDir := flag.String("conf-dir", "", "CNI conf_dir")
	binDir := flag.String("bin-dir", "", "CNI bin_dir")
	netns := flag.String("netns", "", "the pod's netns path")
	id := flag.String("id", "", "the sandbox ID")
	flag.Parse()
	if err := run(*confDir, *binDir, *netns, *id); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(confDir, binDir, netns, id string) error {
	// containerd 1.6's CRI: minimum two networks (loopback + default), max_conf_num 1, "eth".
	l, err := gocni.New(
		gocni.WithMinNetworkCount(2),
		gocni.WithPluginConfDir(confDir),
		gocni.WithPluginMaxConfNum(1),
		gocni.WithPluginDir([]string{binDir}),
		gocni.WithInterfacePrefix("eth"),
	)
	if err != nil {
		return err
	}
	if err := l.Load(gocni.WithLoNetwork, gocni.WithDefaultConf); err != nil {
		return err
	}
	opts := []gocni.NamespaceOpts{
		gocni.WithLabels(map[string]string{
			"K8S_POD_NAMESPACE":          "ns1",
			"K8S_POD_NAME":               "web",
			"K8S_POD_INFRA_CONTAINER_ID": id,
			"K8S_POD_UID":                "uid-1",
			"IgnoreUnknown":              "1",
		}),
		gocni.WithCapability("io.kubernetes.cri.pod-annotations", map[string]string{"team": "a"}),
		gocni.WithCapabilityPortMap([]gocni.PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp", HostIP: ""}}),
		gocni.WithCapabilityBandWidth(gocni.BandWidth{IngressRate: 1000, IngressBurst: 10, EgressRate: 2000, EgressBurst: 20}),
		gocni.WithCapabilityDNS(gocni.DNS{Servers: []string{"10.0.0.10"}, Searches: []string{"svc.local"}, Options: []string{"ndots:5"}}),
	}
	ctx := context.Background()
	result, err := l.Setup(ctx, id, netns, opts...)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	out := struct {
		IP            string   `json:"ip"`
		AdditionalIPs []string `json:"additionalIps"`
	}{AdditionalIPs: []string{}}
	if eth0, ok := result.Interfaces["eth0"]; ok {
		for i, c := range eth0.IPConfigs {
			if i == 0 {
				out.IP = c.IP.String()
			} else {
				out.AdditionalIPs = append(out.AdditionalIPs, c.IP.String())
			}
		}
	}
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	if err := l.Remove(ctx, id, netns, opts...); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	return nil
}
