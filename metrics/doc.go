// Package metrics owns what the controller tells the outside world in
// numbers: the Prometheus collectors (rabbitscale_* series) and the provider
// behind the external metrics API adapter, both answered from the tick's
// queue snapshot so an HPA query never costs a broker request.
package metrics
