package schema

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Applied is the result of Migrate.
type Applied struct {
	// Versions are the migrations this call ran, in order.
	Versions []int
	// Current is the highest version now recorded.
	Current int
}

// Migrate creates the database and the migrations table when missing, then
// runs, in order, every embedded migration whose version is not recorded yet,
// recording each after its statements succeed. Every statement is
// idempotent (IF NOT EXISTS), so two collectors starting together, or a
// migration interrupted half-way, converge on the same schema.
//
// An applied migration whose checksum differs from the embedded template
// returns ErrChecksum: old migrations must never be edited.
func Migrate(ctx context.Context, conn driver.Conn, o Options) (Applied, error) {
	var res Applied
	migs, err := Render(o)
	if err != nil {
		return res, err
	}
	for _, stmt := range o.migrationsTableDDL() {
		if err := conn.Exec(ctx, stmt); err != nil {
			return res, fmt.Errorf("create migrations table: %w", err)
		}
	}
	done, err := appliedVersions(ctx, conn, o)
	if err != nil {
		return res, err
	}
	for _, m := range migs {
		if sum, ok := done[m.Version]; ok {
			if sum != m.Checksum {
				return res, fmt.Errorf("migration %04d_%s: %w (recorded %s, embedded %s)",
					m.Version, m.Name, ErrChecksum, short(sum), short(m.Checksum))
			}
			res.Current = m.Version
			continue
		}
		for i, stmt := range m.Statements {
			if err := conn.Exec(ctx, stmt); err != nil {
				return res, fmt.Errorf("migration %04d_%s statement %d: %w", m.Version, m.Name, i+1, err)
			}
		}
		err := conn.Exec(ctx, "INSERT INTO "+o.Table(MigrationsTable)+
			" (`version`, `name`, `checksum`, `applied_at`) VALUES (?, ?, ?, ?)",
			uint32(m.Version), m.Name, m.Checksum, time.Now().UTC())
		if err != nil {
			return res, fmt.Errorf("record migration %04d_%s: %w", m.Version, m.Name, err)
		}
		res.Versions = append(res.Versions, m.Version)
		res.Current = m.Version
	}
	return res, nil
}

func appliedVersions(ctx context.Context, conn driver.Conn, o Options) (map[int]string, error) {
	rows, err := conn.Query(ctx, "SELECT `version`, argMax(`checksum`, `applied_at`) FROM "+
		o.Table(MigrationsTable)+" GROUP BY `version`")
	if err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	defer rows.Close()
	out := map[int]string{}
	for rows.Next() {
		var v uint32
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			return nil, fmt.Errorf("read applied migrations: %w", err)
		}
		out[int(v)] = sum
	}
	return out, rows.Err()
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
