package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/kubernetes"

	"github.com/rabbitscale/rabbitscale/autoscaler"
	"github.com/rabbitscale/rabbitscale/policy"
)

func newStatusCommand() *cobra.Command {
	var kubeconfig, namespace string
	var all bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print every scaled workload with its queue, depth, replicas and the last decision's reason",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := restConfig(kubeconfig)
			if err != nil {
				return fmt.Errorf("kubernetes client configuration: %w", err)
			}
			kube, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			ns := namespace
			if all {
				ns = metav1.NamespaceAll
			}
			rows, err := statusRows(cmd, kube, ns)
			if err != nil {
				return err
			}
			printStatus(cmd.OutOrStdout(), rows, time.Now())
			return nil
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "Path to a kubeconfig; empty uses the in-cluster configuration.")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "default", "Namespace to list.")
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "List every namespace.")
	return cmd
}

func statusRows(cmd *cobra.Command, kube kubernetes.Interface, ns string) ([]statusRow, error) {
	ws, err := autoscaler.ListManaged(cmd.Context(), kube, ns)
	if err != nil {
		return nil, err
	}
	rows := make([]statusRow, len(ws))
	for i, w := range ws {
		rows[i] = statusRow{Namespace: w.Namespace, Workload: strings.ToLower(string(w.Kind)) + "/" + w.Name, Annotations: w.Annotations, Replicas: w.Replicas}
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
}

// printStatus writes a kubectl-style table. Workloads the controller has
// not decided for yet show "-"; broken annotations show in REASON.
func printStatus(out io.Writer, rows []statusRow, now time.Time) {
	tw := tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tWORKLOAD\tQUEUE\tDEPTH\tCURRENT\tDESIRED\tLAST CHANGE\tREASON")
	for _, r := range rows {
		q := r.Annotations[policy.KeyQueue]
		if q == "" {
			q = "~" + r.Annotations[policy.KeyQueuePattern]
		}
		depth, desired, last, reason := "-", "-", "-", "-"
		if _, err := policy.ParseSpec(r.Annotations); err != nil {
			reason = "invalid annotations: " + strings.ReplaceAll(err.Error(), "\n", "; ")
		}
		if d, err := policy.DecodeDecision(r.Annotations[policy.DecisionAnnotation]); err == nil && d.Reason != "" {
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.Namespace, r.Workload, q, depth, r.Replicas, desired, last, reason)
	}
	_ = tw.Flush()
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
