package streamio

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// Forward is a running client-go port-forward to one remote port, listening on 127.0.0.1.
type Forward struct {
	Local uint16
	stop  chan struct{}
	done  chan error
}

// StartPortForward forwards a free local port to remotePort through the SPDY URL u (a
// CRI PortForward answer) and waits until it listens. An error from setting it up is
// returned; one while starting is emitted as a "portforward" case result, and ok is false.
func StartPortForward(u *url.URL, remotePort string) (fw *Forward, ok bool, err error) {
	tr, up, err := spdy.RoundTripperFor(&rest.Config{})
	if err != nil {
		return nil, false, fmt.Errorf("spdy: %w", err)
	}
	dialer := spdy.NewDialer(up, &http.Client{Transport: tr}, "POST", u)
	stop := make(chan struct{})
	ready := make(chan struct{})
	pf, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + remotePort}, stop, ready, io.Discard, os.Stderr)
	if err != nil {
		return nil, false, fmt.Errorf("portforward: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- pf.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-done:
		Emit(map[string]any{"case": "portforward", "err": ErrText(err)})
		return nil, false, nil
	case <-time.After(15 * time.Second):
		Emit(map[string]any{"case": "portforward", "err": "not ready"})
		return nil, false, nil
	}
	ports, _ := pf.GetPorts()
	return &Forward{Local: ports[0].Local, stop: stop, done: done}, true, nil
}

// Close stops the forward and waits for it to end.
func (f *Forward) Close() {
	close(f.stop)
	<-f.done
}
