// Command rabbitscale is the rabbitscale controller binary. It holds wiring
// only: flags become an options struct, and the options start the packages
// that do the work (see STYLE.md). Its subcommands are run (the controller),
// status, simulate, validate and version. The external metrics API adapter
// is its own binary, cmd/rabbitscale-adapter, so that this one does not link
// the API server libraries.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	if err := newRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "rabbitscale",
		Short:         "Scale Kubernetes workloads from the RabbitMQ queues they consume",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	// klog's flags, -v among them, on every command.
	klogFlags := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(klogFlags)
	root.PersistentFlags().AddGoFlagSet(klogFlags)
	root.AddCommand(newRunCommand(), newStatusCommand(), newSimulateCommand(), newValidateCommand())
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version of rabbitscale",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "rabbitscale", buildVersion())
		},
	})
	return root
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "(devel)"
}
