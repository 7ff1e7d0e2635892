// SPDX-License-Identifier: Apache-2.0

package services

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/nodemetrics/nodemetrics/collect"
)

// postgresql: Diamond's basic PostgresqlCollector set (DatabaseStats and
// DatabaseConnectionCount) plus its connections by state, through pgx
// dialling with our own namespace-aware dial function. Every value is a
// gauge, as Diamond publishes them.

// Diamond's DatabaseStats, without its built-in databases.
const pgDatabaseStats = `
SELECT s.datname, s.numbackends, s.xact_commit, s.xact_rollback, s.blks_read, s.blks_hit,
       s.tup_returned, s.tup_fetched, s.tup_inserted, s.tup_updated, s.tup_deleted,
       s.deadlocks, pg_database_size(d.datname)
FROM pg_database d JOIN pg_stat_database s ON d.datname = s.datname
WHERE s.datname NOT IN ('template0', 'template1', 'postgres', 'rdsadmin')
ORDER BY 1`

var pgStatNames = []string{"numbackends", "xact_commit", "xact_rollback", "blks_read", "blks_hit",
	"tup_returned", "tup_fetched", "tup_inserted", "tup_updated", "tup_deleted", "deadlocks", "size"}

// Connections by database and Diamond's five states.
const pgConnections = `
SELECT datname,
       CASE WHEN wait_event IS NOT NULL AND state <> 'idle' THEN 'waiting'
            WHEN state = 'idle' THEN 'idle'
            WHEN state LIKE 'idle in transaction%' THEN 'idletransaction'
            WHEN state = 'active' THEN 'active'
            ELSE 'unknown' END,
       count(*)
FROM pg_stat_activity
WHERE pid <> pg_backend_pid() AND datname IS NOT NULL
GROUP BY 1, 2`

var pgStates = []string{"active", "waiting", "idle", "idletransaction", "unknown"}

func probePostgres(ctx context.Context, p *probeEnv) ([]point, error) {
	cfg, err := pgx.ParseConfig("sslmode=disable host=127.0.0.1 port=5432 password=unset")
	if err != nil {
		return nil, err
	}
	// Credentials only from our configuration: nothing from PG*
	// environment variables or a .pgpass file.
	cfg.User, cfg.Password, cfg.Database = "postgres", "", "postgres"
	if r := p.in.Rule; r != nil {
		if r.User != "" {
			cfg.User = r.User
		}
		cfg.Password = r.Password
		if r.Database != "" {
			cfg.Database = r.Database
		}
	}
	cfg.Fallbacks = nil
	cfg.TLSConfig = nil
	cfg.RuntimeParams = map[string]string{
		"application_name":              "nodemetrics",
		"default_transaction_read_only": "on",
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	cfg.LookupFunc = func(context.Context, string) ([]string, error) { return []string{"127.0.0.1"}, nil }
	cfg.DialFunc = func(ctx context.Context, _, _ string) (net.Conn, error) { return p.dial(ctx) }
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect as %s: %w", cfg.User, pgErr(err, cfg.Password))
	}
	defer conn.Close(context.Background())

	var pts []point
	var dbs []string
	rows, err := conn.Query(ctx, pgDatabaseStats)
	if err != nil {
		return nil, fmt.Errorf("pg_stat_database: %w", err)
	}
	for rows.Next() {
		var name string
		vals := make([]int64, len(pgStatNames))
		dst := []any{&name}
		for i := range vals {
			dst = append(dst, &vals[i])
		}
		if err := rows.Scan(dst...); err != nil {
			rows.Close()
			return nil, fmt.Errorf("pg_stat_database: %w", err)
		}
		dbs = append(dbs, name)
		node := "database." + collect.Segment(name) + "."
		for i, n := range pgStatNames {
			pts = append(pts, point{path: node + n, kind: gauge, v: float64(vals[i])})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pg_stat_database: %w", err)
	}

	counts := map[string]map[string]int64{}
	rows, err = conn.Query(ctx, pgConnections)
	if err != nil {
		return nil, fmt.Errorf("pg_stat_activity: %w", err)
	}
	for rows.Next() {
		var db, state string
		var n int64
		if err := rows.Scan(&db, &state, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("pg_stat_activity: %w", err)
		}
		if counts[db] == nil {
			counts[db] = map[string]int64{}
		}
		counts[db][state] += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pg_stat_activity: %w", err)
	}
	for _, db := range dbs {
		seg := collect.Segment(db)
		total := int64(0)
		for _, st := range pgStates {
			n := counts[db][st]
			total += n
			pts = append(pts, point{path: seg + ".connections." + st, kind: gauge, v: float64(n)})
		}
		// Diamond's DatabaseConnectionCount (it counts its own too).
		pts = append(pts, point{path: "database." + seg + ".connections", kind: gauge, v: float64(total)})
	}
	return pts, nil
}

// pgErr makes sure a password never reaches a log line through an error.
func pgErr(err error, password string) error {
	if password != "" && strings.Contains(err.Error(), password) {
		return errors.New(strings.ReplaceAll(err.Error(), password, "*****"))
	}
	return err
}
