package agentcostbudgetextension

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/extension"

	"github.com/agentcost/agentcost/extension/agentcostbudgetextension/internal/metadata"
)

// Defaults.
const (
	defaultEndpoint           = "localhost:8790"
	defaultDatabase           = "agentcost"
	defaultReconcileInterval  = 10 * time.Second
	defaultReconcileLag       = 10 * time.Second
	defaultStaleAfter         = time.Minute
	defaultEvaluationInterval = time.Second
	defaultFileCheckInterval  = 10 * time.Second
	defaultQueryTimeout       = 5 * time.Second
	defaultQueueSize          = 1000
)

// NewFactory returns the factory of the agentcost_budget extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, create, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	srv := confighttp.NewDefaultServerConfig()
	srv.NetAddr.Endpoint = defaultEndpoint
	return &Config{
		HTTP: srv,
		ClickHouse: ClickHouseConfig{
			Database:          defaultDatabase,
			Timeout:           defaultQueryTimeout,
			CreateAlertsTable: true,
			UseHourlyRollup:   true,
		},
		ReconcileInterval:        defaultReconcileInterval,
		ReconcileLag:             defaultReconcileLag,
		StaleAfter:               defaultStaleAfter,
		EvaluationInterval:       defaultEvaluationInterval,
		BudgetsFileCheckInterval: defaultFileCheckInterval,
		Notifiers:                NotifiersConfig{Log: true, QueueSize: defaultQueueSize},
	}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newExtension(cfg.(*Config), set)
}
