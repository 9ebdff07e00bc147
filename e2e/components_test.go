package e2e

import (
	"context"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/memorylimiterprocessor"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry"
	"go.uber.org/zap"

	"github.com/agentcost/agentcost/exporter/agentcostclickhouseexporter"
	"github.com/agentcost/agentcost/extension/agentcostbudgetextension"
	"github.com/agentcost/agentcost/processor/agentcostprocessor"
)

// components are the factories of the otelcol-agentcost distribution
// (builder-config.yaml), minus the debug exporter, with a light telemetry
// factory (see testTelemetry).
func components() (otelcol.Factories, error) { return componentsWithLogger(zap.NewNop()) }

// telemetryConfig accepts any service::telemetry section. The distribution's
// own telemetry factory (otelconftelemetry) pulls in cloud resource detectors
// and Kubernetes clients that this module does not otherwise need; the
// telemetry sections of the examples are checked by `otelcol-agentcost
// validate` instead (TestExampleConfigsValidateWithBinary).
type telemetryConfig struct {
	Rest map[string]any `mapstructure:",remain"`
}

// testTelemetry logs the collector to logger and keeps no self-metrics.
func testTelemetry(logger *zap.Logger) telemetry.Factory {
	return telemetry.NewFactory(
		func() component.Config { return &telemetryConfig{} },
		telemetry.WithCreateLogger(func(context.Context, telemetry.LoggerSettings, component.Config) (*zap.Logger, component.ShutdownFunc, error) {
			return logger, nil, nil
		}),
	)
}

func componentsWithLogger(logger *zap.Logger) (otelcol.Factories, error) {
	var err error
	f := otelcol.Factories{Telemetry: testTelemetry(logger)}
	if f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory()); err != nil {
		return f, err
	}
	if f.Processors, err = otelcol.MakeFactoryMap[processor.Factory](
		memorylimiterprocessor.NewFactory(), agentcostprocessor.NewFactory()); err != nil {
		return f, err
	}
	if f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](agentcostclickhouseexporter.NewFactory()); err != nil {
		return f, err
	}
	if f.Extensions, err = otelcol.MakeFactoryMap[extension.Factory](
		filestorage.NewFactory(), agentcostbudgetextension.NewFactory()); err != nil {
		return f, err
	}
	f.Connectors, err = otelcol.MakeFactoryMap[connector.Factory]()
	return f, err
}
