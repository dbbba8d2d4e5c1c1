// Package metrics owns what the controller tells the outside world in
// numbers: the Prometheus collectors (rabbitscale_* series), and nothing
// else. The external metrics API that a stock HPA reads is package adapter
// (binary cmd/rabbitscale-adapter), which registers these collectors only
// for its broker series.
//
// # Collectors (controller.go)
//
// NewCollectors registers the controller's collectors with a Registerer;
// NewRegistry gives a registry that already holds the Go and process
// collectors, and Handler serves it on /metrics. Names carry the
// rabbitscale_ prefix and base units; counters end in _total. Labels are
// bounded by the workloads (kind, namespace, workload), their queue
// selection (broker, and queue: policy.QueueSelector.String) and fixed sets (signal,
// driven_by, limit, direction, error kind, broker error reason), never by
// reason text or URLs. A value that is not known (queue unreadable, rates
// not computed yet, signal off) is absent rather than zero.
//
// rabbitscale_workload_annotations_invalid{kind,namespace,workload} is 1
// while a workload's rabbitscale.io/ annotations do not parse, and absent
// otherwise (never 0): such a workload has no decision, so its other
// series go, and this one is all that shows it, on the dashboard's
// invalid-annotations table and in the RabbitscaleWorkloadAnnotationsInvalid
// alert (== 1 for 5 minutes). Absent-when-valid keeps one series per
// broken workload rather than one per workload; the alert needs no absent().
//
//	per workload   rabbitscale_workload_queue_messages_ready, _unacked, _consumers,
//	               rabbitscale_workload_arrival_rate_messages_per_second,
//	               rabbitscale_workload_processing_rate_messages_per_second,
//	               rabbitscale_workload_per_pod_rate_messages_per_second,
//	               rabbitscale_workload_queue_available, rabbitscale_workload_rates_available,
//	               rabbitscale_workload_signal_recommendation_replicas{signal},
//	               rabbitscale_workload_recommendation_replicas,
//	               rabbitscale_workload_desired_replicas, _current_replicas, _min_replicas,
//	               _max_replicas, rabbitscale_workload_paused, rabbitscale_workload_dry_run
//	misconfigured  rabbitscale_workload_annotations_invalid
//	counters       rabbitscale_decisions_total{driven_by},
//	               rabbitscale_decisions_clipped_total{limit},
//	               rabbitscale_scale_events_total{direction,driven_by},
//	               rabbitscale_errors_total{kind},
//	               rabbitscale_broker_request_errors_total{broker,reason}
//	histograms     rabbitscale_tick_duration_seconds, rabbitscale_apply_duration_seconds,
//	               rabbitscale_broker_request_duration_seconds{broker}
//	health         rabbitscale_broker_up{broker}, rabbitscale_last_tick_timestamp_seconds
//
// The per-workload series and counters live in workloads.go as one small
// record per workload, written out as const metrics at scrape time. Metric
// vectors kept every series' label pairs alive between scrapes: 19 MiB of a
// 30 MiB heap at 1,000 workloads (make bench-controller, rss-MiB went from
// 120 to about 80). Changing a workload's queue selection or forgetting the
// workload replaces or drops its record, so no stale series remain.
//
// # Where the controller calls them (autoscaler)
//
// The autoscaler.Controller holds one *Collectors (nil is allowed and
// ignores every call), created in cmd/rabbitscale run with
// NewCollectors(reg) on reg := NewRegistry(), and Handler(reg) is mounted
// on /metrics next to /healthz. The calls, by place:
//
//   - readBrokers (gather), around each r.Snapshot(ctx, scope):
//     ObserveBrokerRequest(name, clock.Since(start), err); on err also
//     ObserveError(ErrorKindBroker). An unknown broker name is
//     ObserveError(ErrorKindQueue), not a request.
//   - Tick: a listWorkloads error is ObserveError(ErrorKindOther); a
//     ParseSpec error goes to reportSkipped: ObserveError(ErrorKindSpec)
//     and ObserveAnnotationsInvalid(kind, namespace, name), on every tick
//     while it lasts (ObserveWorkload clears it once the annotations parse).
//   - readCPU, on a listSamples error: ObserveError(ErrorKindCPU).
//   - report, once per synced workload, from its outcome:
//     ObserveWorkload(kind, namespace, name, spec.Broker,
//     spec.Queue.String(), obs, d, spec) with the spec as decided (DryRun
//     set under --dry-run); ObserveError(ErrorKindQueue) for a queue lookup
//     that failed in a good snapshot; ObserveApply(took) when a scale was
//     sent; ObserveScale(kind, namespace, name, Direction(d.Current,
//     d.Desired), d.DrivenBy) when it changed the replicas;
//     ObserveError(ErrorKindApply) when it failed other than by
//     ErrReplicasChanged; ObserveError(ErrorKindState) when writing the
//     annotations failed.
//   - forgetSeries (every tick, after parsing), for every workload no
//     longer listed, no longer configured or left to another autoscaler:
//     ForgetWorkload(kind, namespace, name), which drops
//     rabbitscale_workload_annotations_invalid too. A workload whose
//     annotations do not parse is kept (its gauge stays).
//   - the end of Tick: ObserveTick(res.Duration, clock.Now()).
//
// # Deployment files (tests in deploy_test.go)
//
// deploy/grafana/rabbitscale.json (Grafana schemaVersion 39) and
// deploy/prometheus/rabbitscale-rules.yaml and prometheusrule.yaml (the same
// rules, with promtool unit tests in rabbitscale-rules.test.yaml); the
// adapter's manifests (deploy/adapter) are tested in package adapter. The
// tests fail when a dashboard or alert expression names a metric this
// package does not export, when a rabbitscale_ metric has no panel, when
// promtool rejects an expression, and when the PrometheusRule drifts from
// the plain rules file.
// TestDashboardQueriesReturnDataInPrometheus starts a real Prometheus that
// scrapes a Controller observing a scaling workload and requires every
// dashboard query to return a series, which also catches a wrong label
// name. promtool and prometheus come from Debian's prometheus package
// (hack/install-deps.sh); without them those checks skip, except with
// CI=true, where they fail.
package metrics
