// Package queue reads RabbitMQ brokers: the management HTTP API, AMQP 0-9-1
// passive declares, and the rabbitmq_prometheus endpoint. One read per broker
// per tick produces a snapshot shared by every workload on that broker, and
// rates are computed here from the package's own counter samples rather than
// the broker's *_details.rate fields.
//
// It knows nothing of Kubernetes and nothing of scaling decisions.
package queue
