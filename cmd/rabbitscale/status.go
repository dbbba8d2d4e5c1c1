package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/rabbitscale/rabbitscale/autoscaler"
	"github.com/rabbitscale/rabbitscale/policy"
)

// StatusOptions are the flags of `rabbitscale status`. The client
// configuration is found as kubectl finds it: --kubeconfig, else
// $KUBECONFIG, else ~/.kube/config, else the in-cluster configuration; the
// namespace is --namespace, else the current context's.
type StatusOptions struct {
	Kubeconfig string
	Context    string
	// Namespace is empty for the context's namespace.
	Namespace     string
	AllNamespaces bool
	// Live asks the leader for its latest decisions, through the API
	// server's proxy to the pod that holds the lease in
	// ControllerNamespace (LeaderElectionID), on HealthPort.
	Live                bool
	ControllerNamespace string
	LeaderElectionID    string
	HealthPort          string
}

// NewStatusOptions returns the defaults, those of deploy/base.
func NewStatusOptions() *StatusOptions {
	return &StatusOptions{Live: true, ControllerNamespace: "rabbitscale", LeaderElectionID: "rabbitscale-controller", HealthPort: "8081"}
}

// AddFlags registers the options on fs.
func (o *StatusOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Path to a kubeconfig; empty uses $KUBECONFIG, then ~/.kube/config, then the in-cluster configuration, as kubectl does.")
	fs.StringVar(&o.Context, "context", o.Context, "The kubeconfig context to use; empty uses the current context.")
	fs.StringVarP(&o.Namespace, "namespace", "n", o.Namespace, "Namespace to list; empty uses the context's namespace.")
	fs.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", o.AllNamespaces, "List every namespace.")
	fs.BoolVar(&o.Live, "live", o.Live, "Show the leader's latest decisions, asked through the API server's pod proxy (needs get on pods/proxy in --controller-namespace); without it, or when the leader cannot be asked, show the decision annotations and their age.")
	fs.StringVar(&o.ControllerNamespace, "controller-namespace", o.ControllerNamespace, "Namespace of the controller and its leader election Lease.")
	fs.StringVar(&o.LeaderElectionID, "leader-election-id", o.LeaderElectionID, "Name of the controller's leader election Lease, whose holder is the pod asked.")
	fs.StringVar(&o.HealthPort, "health-port", o.HealthPort, "The controller's --health-addr port, which serves /decisions.")
}

// Validate returns every problem with the options, each naming the flag.
func (o *StatusOptions) Validate() []error {
	var errs []error
	if o.AllNamespaces && o.Namespace != "" {
		errs = append(errs, fmt.Errorf("--namespace: %q is set together with --all-namespaces; use one", o.Namespace))
	}
	return errs
}

// clientConfig is kubectl's loading of the client configuration.
func (o *StatusOptions) clientConfig() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.Kubeconfig
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{
		CurrentContext: o.Context,
		Context:        clientcmdapi.Context{Namespace: o.Namespace},
	})
}

// namespace is the namespace to list: metav1.NamespaceAll for
// --all-namespaces, else --namespace or the context's.
func (o *StatusOptions) namespace(cc clientcmd.ClientConfig) (string, error) {
	if o.AllNamespaces {
		return metav1.NamespaceAll, nil
	}
	ns, _, err := cc.Namespace()
	return ns, err
}

func newStatusCommand() *cobra.Command {
	o := NewStatusOptions()
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print every scaled workload with its queue, depth, replicas and the last decision's reason",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if errs := o.Validate(); len(errs) > 0 {
				return errors.Join(errs...)
			}
			cc := o.clientConfig()
			cfg, err := cc.ClientConfig()
			if err != nil {
				return fmt.Errorf("kubernetes client configuration: %w", err)
			}
			ns, err := o.namespace(cc)
			if err != nil {
				return fmt.Errorf("kubernetes client configuration: %w", err)
			}
			kube, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			rows, err := statusRows(cmd, kube, ns)
			if err != nil {
				return err
			}
			if o.Live {
				if err := o.addLive(cmd.Context(), kube, rows); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "live decisions unavailable (%v); showing the decision annotations and their age\n", err)
				}
			}
			printStatus(cmd.OutOrStdout(), rows, time.Now())
			return nil
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func statusRows(cmd *cobra.Command, kube kubernetes.Interface, ns string) ([]statusRow, error) {
	ws, err := autoscaler.ListManaged(cmd.Context(), kube, ns)
	if err != nil {
		return nil, err
	}
	rows := make([]statusRow, len(ws))
	for i, w := range ws {
		rows[i] = statusRow{Namespace: w.Namespace, Workload: strings.ToLower(string(w.Kind)) + "/" + w.Name, Annotations: w.Annotations,
			Replicas: w.Replicas, Written: w.Written}
	}
	slices.SortFunc(rows, func(a, b statusRow) int { // as kubectl: by namespace first
		return strings.Compare(a.Namespace+"/"+a.Workload, b.Namespace+"/"+b.Workload)
	})
	return rows, nil
}

type statusRow struct {
	Namespace, Workload string
	Annotations         map[string]string
	Replicas            int32
	// Live is the leader's latest decision, when it could be asked.
	Live *policy.Decision
	// Written is when the decision annotation was last written.
	Written time.Time
}

// printStatus writes a kubectl-style table. The decision is the leader's
// live one (DECIDED "live") when it could be asked, else the annotation's,
// with its age. Workloads the controller has not decided for yet show "-";
// broken annotations show in REASON.
func printStatus(out io.Writer, rows []statusRow, now time.Time) {
	tw := tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tWORKLOAD\tQUEUE\tDEPTH\tCURRENT\tDESIRED\tLAST CHANGE\tDECIDED\tREASON")
	for _, r := range rows {
		q := r.Annotations[policy.KeyQueue]
		if q == "" {
			q = "~" + r.Annotations[policy.KeyQueuePattern]
		}
		depth, desired, last, decided, reason := "-", "-", "-", "-", "-"
		if _, err := policy.ParseSpec(r.Annotations); err != nil {
			reason = "invalid annotations: " + strings.ReplaceAll(err.Error(), "\n", "; ")
		}
		d, err := policy.DecodeDecision(r.Annotations[policy.DecisionAnnotation])
		switch {
		case r.Live != nil:
			d, err, decided = *r.Live, nil, "live"
		case err == nil && d.Reason != "" && !r.Written.IsZero():
			decided = duration.HumanDuration(now.Sub(r.Written)) + " ago"
		}
		if err == nil && d.Reason != "" {
			if d.Signals.Depth.Available {
				depth = strconv.FormatFloat(d.Signals.Depth.Value, 'f', 0, 64)
			}
			desired = strconv.Itoa(int(d.Desired))
			if reason == "-" {
				reason = d.Reason
			}
		}
		if st, err := policy.DecodeState(r.Annotations[policy.StateAnnotation]); err == nil {
			if t := latest(st.LastScaleUp, st.LastScaleDown); !t.IsZero() {
				last = duration.HumanDuration(now.Sub(t)) + " ago"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Namespace, r.Workload, q, depth, r.Replicas, desired, last, decided, reason)
	}
	_ = tw.Flush()
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// addLive sets each row's Live decision from the leader: the pod named by
// the Lease's holder (its identity is its pod name), asked through the API
// server's pod proxy.
func (o *StatusOptions) addLive(ctx context.Context, kube kubernetes.Interface, rows []statusRow) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	lease, err := kube.CoordinationV1().Leases(o.ControllerNamespace).Get(ctx, o.LeaderElectionID, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading the leader's Lease: %w", err)
	}
	holder := ptr.Deref(lease.Spec.HolderIdentity, "")
	if holder == "" {
		return fmt.Errorf("the Lease %s/%s has no holder", o.ControllerNamespace, o.LeaderElectionID)
	}
	raw, err := kube.CoreV1().Pods(o.ControllerNamespace).ProxyGet("http", holder, o.HealthPort, autoscaler.DecisionsPath, nil).DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("asking the leader %s: %w", holder, err)
	}
	var live autoscaler.LiveDecisions
	if err := json.Unmarshal(raw, &live); err != nil {
		return fmt.Errorf("the leader %s answered %q: %w", holder, truncate(string(raw), 80), err)
	}
	if !live.Leading {
		return fmt.Errorf("%s no longer leads", holder)
	}
	byKey := make(map[string]policy.Decision, len(live.Decisions))
	for _, d := range live.Decisions {
		byKey[d.Namespace+"/"+strings.ToLower(string(d.Kind))+"/"+d.Name] = d.Decision
	}
	for i := range rows {
		if d, ok := byKey[rows[i].Namespace+"/"+rows[i].Workload]; ok {
			rows[i].Live = &d
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
