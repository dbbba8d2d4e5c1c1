//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/rabbitscale/rabbitscale/integration/demo"
)

// TestDemo runs `make demo`'s program in a short mode (DEMO_DURATION,
// 75 s by default here) against the shared API server and broker: the
// real controller must scale the worker up during the burst and down after
// it, and the chart must be well-formed SVG.
func TestDemo(t *testing.T) {
	d := 75 * time.Second
	if v := os.Getenv("DEMO_DURATION"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("DEMO_DURATION: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
	defer cancel()
	dir := t.TempDir()
	o := demo.NewOptions()
	o.Duration, o.Dir, o.Broker, o.Binary = d, dir, broker, rabbitscaleBinary(t)
	o.Config = rest.CopyConfig(cp.Config)
	o.Config.QPS, o.Config.Burst = 50, 100
	o.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := cp.Kubeconfig(o.Kubeconfig); err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	o.Out = &table

	res, err := demo.Run(ctx, o)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, table.String())
	}
	t.Logf("demo table:\n%s", table.String())

	peak, final := res.MaxReplicas(), res.Samples[len(res.Samples)-1].Replicas
	if peak < 5 {
		t.Errorf("replicas peaked at %d during a burst of 1200 messages (100 per pod), want at least 5", peak)
	}
	if final >= peak {
		t.Errorf("replicas ended at %d, want them to come down from the peak %d after the burst", final, peak)
	}
	if res.Processed == 0 || res.Processed > res.Published {
		t.Errorf("processed %d of %d published messages", res.Processed, res.Published)
	}

	svg := filepath.Join(dir, "demo.svg")
	if err := demo.WriteSVG(svg, res); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(svg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	dec := xml.NewDecoder(f)
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("demo.svg is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Errorf("demo.svg's root element is %q, want svg", root)
	}
}
