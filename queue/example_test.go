package queue_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/rabbitscale/rabbitscale/queue"
)

// fakeManagementAPI stands in for RabbitMQ's management plugin: one page of
// three queues whose publish and ack counters grow by 200 and 150 per call.
func fakeManagementAPI() *httptest.Server {
	calls := 0
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		pub, ack := 1000+200*calls, 900+150*calls
		fmt.Fprintf(w, `{"page":1,"page_count":1,"items":[
 {"name":"orders","vhost":"/","messages_ready":120,"messages_unacknowledged":10,"consumers":2,
  "message_stats":{"publish":%d,"deliver_get":%d,"ack":%d}},
 {"name":"orders-retry","vhost":"/","messages_ready":5,"messages_unacknowledged":0,"consumers":1},
 {"name":"invoices","vhost":"/","messages_ready":0,"messages_unacknowledged":0,"consumers":1}]}`, pub, ack, ack)
	}))
}

// Example shows what the controller does every tick: one read of a broker
// for all its workloads, then lookups by name and by pattern that make no
// further request.
func Example() {
	api := fakeManagementAPI()
	defer api.Close()
	_ = os.Setenv("RABBIT_PASSWORD", "guest") // in a Pod: from a Secret

	cfg, err := queue.ParseConfig([]byte(`
brokers:
- name: main
  managementURL: ` + api.URL + `
  credentials: {username: rabbitscale, passwordEnv: RABBIT_PASSWORD}
  rateWindow: 20s
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	clk := testingclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	brokers, err := queue.Open(cfg, clk)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = brokers.Close() }()
	reader, _ := brokers.Reader("main")

	// The scope of every workload on this broker.
	var scope queue.Scope
	scope.Add("/", "orders", "invoices") // two workloads naming queues
	scope.Add("/")                       // a workload with a pattern

	var snap *queue.Snapshot
	for range 3 { // three ticks, 10 s apart
		if snap, err = reader.Snapshot(context.Background(), scope); err != nil {
			fmt.Println(err)
			return
		}
		clk.Step(10 * time.Second)
	}
	fmt.Println("requests for this tick:", snap.Requests)

	orders, _ := snap.Lookup("/", "orders")
	fmt.Printf("orders: ready=%d unacked=%d consumers=%d publish=%.0f/s ack=%.0f/s over %s\n",
		orders.Ready, orders.Unacked, orders.Consumers, orders.Rates.Publish, orders.Rates.Ack, orders.Rates.Span)

	all, _ := snap.Match("/", regexp.MustCompile(`^orders`))
	fmt.Printf("^orders: %d queues, ready=%d\n", len(all.Queues), all.Ready)

	_, err = snap.Lookup("/", "payments")
	fmt.Println("payments missing:", errors.Is(err, queue.ErrQueueNotFound))
	// Output:
	// requests for this tick: 1
	// orders: ready=120 unacked=10 consumers=2 publish=20/s ack=15/s over 20s
	// ^orders: 2 queues, ready=125
	// payments missing: true
}

// ExampleParseConfig shows validation errors: each names the field and the
// value, and a URL is shown without its password.
func ExampleParseConfig() {
	_, err := queue.ParseConfig([]byte(`
brokers:
- name: Main
  managementURL: http://admin:hunter2@rabbit:15672
  timeout: -5s
`))
	fmt.Println(err)
	// Output:
	// invalid broker configuration: brokers[0].name: "Main" is not a DNS label (lower case letters, digits and '-', at most 63)
	// invalid broker configuration: brokers[0].managementURL: "http://rabbit:15672" must not carry credentials: use credentials.usernameEnv/passwordFile and friends
	// invalid broker configuration: brokers[0].credentials.username: "" is required by source management (or usernameEnv/usernameFile)
	// invalid broker configuration: brokers[0].timeout: "-5s" must be positive
}

// ExampleSnapshot_Lookup shows per-queue errors: a missing queue fails only
// the lookups that name it.
func ExampleSnapshot_Lookup() {
	snap := queue.NewSnapshot("main", queue.SourceManagement, time.Now(), queue.Coverage{Listed: true})
	snap.Set(queue.QueueKey{Vhost: "/", Name: "orders"}, queue.QueueStats{Ready: 7, UnackedAvailable: true, Unacked: 3})

	tot, err := snap.Lookup("/", "orders", "gone")
	fmt.Println(tot.Ready+tot.Unacked, errors.Is(err, queue.ErrQueueNotFound))
	fmt.Println(err)
	// Output:
	// 10 true
	// broker "main": queue "gone" in vhost "/": queue not found
}
