// SPDX-License-Identifier: Apache-2.0

package services

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/nodemetrics/nodemetrics/collect"
)

// postgresql: Diamond's basic PostgresqlCollector set (DatabaseStats and
// DatabaseConnectionCount) plus its connections by state, through pgx's
// pgconn dialling with our own namespace-aware dial function. Every value
// is a gauge, as Diamond publishes them.

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
	cfg, err := pgconn.ParseConfig("sslmode=disable host=127.0.0.1 port=5432 password=unset")
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
	cfg.LookupFunc = func(context.Context, string) ([]string, error) { return []string{"127.0.0.1"}, nil }
	cfg.DialFunc = func(ctx context.Context, _, _ string) (net.Conn, error) { return p.dial(ctx) }
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect as %s: %w", cfg.User, pgErr(err, cfg.Password))
	}
	defer conn.Close(context.Background())

	var pts []point
	var dbs []string
	rows, err := pgQuery(ctx, conn, pgDatabaseStats, 1+len(pgStatNames))
	if err != nil {
		return nil, fmt.Errorf("pg_stat_database: %w", err)
	}
	for _, row := range rows {
		name := string(row[0])
		vals, err := pgInts(row[1:])
		if err != nil {
			return nil, fmt.Errorf("pg_stat_database: %w", err)
		}
		dbs = append(dbs, name)
		node := "database." + collect.Segment(name) + "."
		for i, n := range pgStatNames {
			pts = append(pts, point{path: node + n, kind: gauge, v: float64(vals[i])})
		}
	}

	counts := map[string]map[string]int64{}
	rows, err = pgQuery(ctx, conn, pgConnections, 3)
	if err != nil {
		return nil, fmt.Errorf("pg_stat_activity: %w", err)
	}
	for _, row := range rows {
		db, state := string(row[0]), string(row[1])
		n, err := pgInts(row[2:])
		if err != nil {
			return nil, fmt.Errorf("pg_stat_activity: %w", err)
		}
		if counts[db] == nil {
			counts[db] = map[string]int64{}
		}
		counts[db][state] += n[0]
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

// pgQuery runs one statement with the simple query protocol and returns its
// rows (text values; nil is NULL), each checked to have cols columns.
//
// pgconn (pgx's protocol layer), not pgx: pgx's type mapping (pgtype's
// codecs for every PostgreSQL type, encoding/xml) is not needed for two
// queries of names and integers, and linked it made the binary 2.9 MB
// larger, most of it mapped resident: the agent's PSS was 0.8-0.9 MB
// higher (bench/daemon, host and 1000 containers).
func pgQuery(ctx context.Context, conn *pgconn.PgConn, sql string, cols int) ([][][]byte, error) {
	res, err := conn.Exec(ctx, sql).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(res) != 1 {
		return nil, fmt.Errorf("%d results, want 1", len(res))
	}
	for _, row := range res[0].Rows {
		if len(row) != cols {
			return nil, fmt.Errorf("%d columns, want %d", len(row), cols)
		}
	}
	return res[0].Rows, nil
}

// pgInts parses text values as integers.
func pgInts(vals [][]byte) ([]int64, error) {
	out := make([]int64, len(vals))
	for i, v := range vals {
		if v == nil {
			return nil, errors.New("NULL where a number was expected")
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// pgErr makes sure a password never reaches a log line through an error.
func pgErr(err error, password string) error {
	if password != "" && strings.Contains(err.Error(), password) {
		return errors.New(strings.ReplaceAll(err.Error(), password, "*****"))
	}
	return err
}
