package main

import (
	"github.com/rabbitscale/rabbitscale/autoscaler"
	"github.com/rabbitscale/rabbitscale/queue"
)

// brokerSet is the reloaded broker configuration file (queue.File, which
// the external metrics adapter reads the same way) as the controller's
// autoscaler.BrokerSet: each tick takes the brokers in use once.
type brokerSet struct{ file *queue.File }

var _ autoscaler.BrokerSet = brokerSet{}

// Current implements autoscaler.BrokerSet.
func (s brokerSet) Current() (map[string]autoscaler.Snapshotter, autoscaler.Allowed) {
	set := s.file.Brokers()
	readers := map[string]autoscaler.Snapshotter{}
	for name, r := range set.Readers() {
		readers[name] = r
	}
	return readers, set.Allowed
}
