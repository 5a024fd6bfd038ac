// Package metrics holds the provider's Prometheus metrics: mounts and their
// latency, Vault requests by kind and status, Azure token requests, cache
// hits and misses, and dynamic-secret events, all observed as the
// observe.Observer of the provider's parts. Labels never carry secrets,
// tokens or pod names.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vaultazure/vault-azure-csi-provider/auth/observe"
)

const namespace = "vault_azure_csi_provider"

// Metrics is the provider's metric set, registered in its own registry.
type Metrics struct {
	Registry      *prometheus.Registry
	mounts        *prometheus.CounterVec
	mountDuration *prometheus.HistogramVec
	vaultRequests *prometheus.CounterVec
	azureRequests *prometheus.CounterVec
	cache         *prometheus.CounterVec
	dynamic       *prometheus.CounterVec
}

var _ observe.Observer = (*Metrics)(nil)

// New creates and registers the metrics (plus Go and process collectors).
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		mounts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "mounts_total", Help: "Mount requests by result (ok, or the gRPC code of the failure).",
		}, []string{"result"}),
		mountDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "mount_duration_seconds", Help: "Mount latency by result.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"result"}),
		vaultRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "vault_requests_total", Help: "HTTP requests to Vault by kind (login, read, write, renew, mount_lookup, other) and status code (0: no response).",
		}, []string{"kind", "status"}),
		azureRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "azure_token_requests_total", Help: "HTTP requests to Azure identity endpoints by endpoint (entra, imds, imds_instance, nmi) and status code (0: no response).",
		}, []string{"endpoint", "status"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "cache_requests_total", Help: "Cache lookups by cache (vault_token, secret) and result (hit, miss).",
		}, []string{"cache", "result"}),
		dynamic: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "dynamic_secret_events_total",
			Help: "Dynamic secrets kept per pod, by event: reuse (a Mount got its kept secret), issue, renew, renew_failed, token_renew, token_renew_failed (the token that holds running pods' leases), revoke, revoke_failed (a gone pod's lease), forget (a pod of unknown liveness stopped mounting: not revoked), refused (a namespace or the node at its bound).",
		}, []string{"event"}),
	}
	m.Registry.MustRegister(m.mounts, m.mountDuration, m.vaultRequests, m.azureRequests, m.cache, m.dynamic,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveMount records one Mount.
func (m *Metrics) ObserveMount(result string, d time.Duration) {
	m.mounts.WithLabelValues(result).Inc()
	m.mountDuration.WithLabelValues(result).Observe(d.Seconds())
}

// VaultRequest records one HTTP request to Vault.
func (m *Metrics) VaultRequest(kind string, status int) {
	m.vaultRequests.WithLabelValues(kind, strconv.Itoa(status)).Inc()
}

// AzureRequest records one HTTP request to an Azure identity endpoint.
func (m *Metrics) AzureRequest(endpoint string, status int) {
	m.azureRequests.WithLabelValues(endpoint, strconv.Itoa(status)).Inc()
}

// CacheLookup records a cache hit or miss.
func (m *Metrics) CacheLookup(cache string, hit bool) {
	result := "miss"
	if hit {
		result = "hit"
	}
	m.cache.WithLabelValues(cache, result).Inc()
}

// DynamicEvent records an event of a kept dynamic secret.
func (m *Metrics) DynamicEvent(event string) {
	m.dynamic.WithLabelValues(event).Inc()
}

// DynamicLeases publishes the number of leases kept for pods, read from
// leases at each scrape.
func (m *Metrics) DynamicLeases(leases func() int) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "dynamic_leases", Help: "Leases of dynamic secrets kept for pods (renewed while the pods run, revoked when they are gone).",
	}, func() float64 { return float64(leases()) }))
}

// CacheSizes publishes the entries of the provider's caches (cache:
// vault_token, vault_client, secret), read from sizes at each scrape.
func (m *Metrics) CacheSizes(sizes func() map[string]int) {
	m.Registry.MustRegister(&cacheSizeCollector{sizes: sizes, desc: prometheus.NewDesc(namespace+"_cache_entries",
		"Entries in each bounded cache (vault_token, vault_client, secret).", []string{"cache"}, nil)})
}

type cacheSizeCollector struct {
	sizes func() map[string]int
	desc  *prometheus.Desc
}

func (c *cacheSizeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *cacheSizeCollector) Collect(ch chan<- prometheus.Metric) {
	for name, n := range c.sizes() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), name)
	}
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
