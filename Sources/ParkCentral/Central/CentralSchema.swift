import ParkConfig
import TelemetryCore
import UplinkWire

/// The central database's schema, as numbered migrations: each runs once, in order, in one
/// transaction under an advisory lock (several workers may start at once).
package enum CentralSchema {
    /// Taken while migrating or adding partitions: one worker at a time changes the schema.
    package static let lockKey = "7274000014"

    /// Tables partitioned by month on the item's own time (`at`): old months are dropped or
    /// archived whole. Every table is keyed by (id, at) — an item's id fixes its time — so a
    /// resent item is recognised and skipped. `arrival` numbers rows as they arrive.
    package static let migrations: [(version: Int, sql: String)] = [
        (
            1,
            """
            CREATE SEQUENCE arrival_seq;
            CREATE TABLE rollups(
              id text NOT NULL, at timestamptz NOT NULL, gateway text NOT NULL, park text NOT NULL,
              series text NOT NULL, count integer NOT NULL, mean double precision, min double precision,
              max double precision, last double precision, leq double precision, increase double precision,
              arrival bigint NOT NULL DEFAULT nextval('arrival_seq'), received_at timestamptz NOT NULL DEFAULT now(),
              PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
            CREATE INDEX rollups_series_at ON rollups(series, at);
            CREATE TABLE compliance(
              id text NOT NULL, at timestamptz NOT NULL, gateway text NOT NULL, park text NOT NULL,
              rule text NOT NULL, series text NOT NULL, period text NOT NULL, value double precision,
              limit_value double precision, valid boolean, exceeded boolean, record jsonb NOT NULL,
              arrival bigint NOT NULL DEFAULT nextval('arrival_seq'), received_at timestamptz NOT NULL DEFAULT now(),
              PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
            CREATE INDEX compliance_park_rule ON compliance(park, rule, at);
            CREATE TABLE alerts(
              id text NOT NULL, at timestamptz NOT NULL, gateway text NOT NULL, park text, rule text,
              series text, state text, alert jsonb NOT NULL,
              arrival bigint NOT NULL DEFAULT nextval('arrival_seq'), received_at timestamptz NOT NULL DEFAULT now(),
              PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
            CREATE INDEX alerts_park_at ON alerts(park, at);
            CREATE TABLE summaries(
              id text NOT NULL, at timestamptz NOT NULL, gateway text NOT NULL, period text, summary jsonb NOT NULL,
              arrival bigint NOT NULL DEFAULT nextval('arrival_seq'), received_at timestamptz NOT NULL DEFAULT now(),
              PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
            """
        ),
        (
            2,
            """
            CREATE TABLE dead_letters(
              id bigserial PRIMARY KEY, received_at timestamptz NOT NULL DEFAULT now(), shard text NOT NULL,
              topic text NOT NULL, reason text NOT NULL, detail text NOT NULL, sqlstate text, batch bytea NOT NULL,
              truncated boolean NOT NULL DEFAULT false);
            CREATE INDEX dead_letters_received ON dead_letters(received_at);
            """
        ),
        (
            3,
            // Views shaped for a Grafana time-series panel (PostgreSQL data source, "Format as
            // time series"): a `time` column, a `value` and a `metric` naming the line, with the
            // columns to filter on beside them. Views, not tables: nothing is stored twice.
            """
            CREATE VIEW grafana_series_mean AS
              SELECT at AS "time", mean AS value, series AS metric, park, gateway, count
              FROM rollups WHERE mean IS NOT NULL;
            CREATE VIEW grafana_compliance AS
              SELECT at AS "time", value, rule || ' ' || series || ' ' || period AS metric, park, rule, series, period,
                     limit_value, exceeded, valid
              FROM compliance WHERE value IS NOT NULL;
            CREATE VIEW grafana_compliance_limit AS
              SELECT at AS "time", limit_value AS value, rule || ' ' || series || ' ' || period || ' limit' AS metric,
                     park, rule, series, period
              FROM compliance WHERE limit_value IS NOT NULL;
            CREATE VIEW grafana_park_figures AS
              SELECT s.at AS "time", (p.value ->> f.figure)::double precision AS value,
                     (p.value ->> 'park') || ' ' || f.figure || ' ' || coalesce(s.period, '') AS metric,
                     p.value ->> 'park' AS park,
                     p.value ->> 'pillar' AS pillar, f.figure, s.period, s.gateway
              FROM summaries s
              CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(s.summary -> 'parks') = 'array'
                                                      THEN s.summary -> 'parks' ELSE '[]'::jsonb END) p
              CROSS JOIN (VALUES ('energy_kwh'), ('grid_import_kwh'), ('pv_kwh'), ('peak_demand_15m_kw'),
                                 ('renewable_share'), ('green_coverage'), ('irrigation_m3')) f(figure)
              WHERE jsonb_typeof(p.value -> f.figure) = 'number';
            CREATE VIEW grafana_alerts AS
              SELECT at AS "time", CASE WHEN state = 'firing' THEN 1 ELSE 0 END AS value,
                     rule || ' ' || series AS metric, park, rule, series, state, gateway
              FROM alerts;
            """
        ),
    ]

    package static let tables = ["rollups", "compliance", "alerts", "summaries"]

    /// Brings the database up to the newest version; returns the versions applied.
    @discardableResult
    package static func migrate(_ db: PostgresConnection) throws(PostgresConnection.Failure) -> [Int] {
        try db.transaction { () throws(PostgresConnection.Failure) -> [Int] in
            try db.execute("SELECT pg_advisory_xact_lock(\(lockKey))")
            try db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            let current =
                Int(try db.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").rows[0][0] ?? "0") ?? 0
            guard current <= migrations.last!.version else {
                throw .init(
                    message:
                        "the central database has schema \(current), newer than this parkd knows (\(migrations.last!.version))",
                    sqlState: nil)
            }
            var applied: [Int] = []
            for migration in migrations where migration.version > current {
                try db.execute(migration.sql)
                try db.execute("INSERT INTO schema_migrations(version) VALUES ($1)", [String(migration.version)])
                applied.append(migration.version)
            }
            return applied
        }
    }

    /// A month partition of one table: its name and bounds (UTC months).
    package struct Partition: Hashable {
        package var table: String
        package var year: Int
        package var month: Int

        /// The month holding `milliseconds` (the central side's one calendar: UTC).
        package init(_ table: String, at milliseconds: Int64) {
            let day = LocalCalendar(utcOffsetMinutes: 0).day(EventTime(milliseconds: milliseconds))
            let (year, month, _) = RFC3339.civilFromDays(Int(day))
            self.init(table: table, year: year, month: month)
        }

        package init(table: String, year: Int, month: Int) {
            (self.table, self.year, self.month) = (table, year, month)
        }

        package var name: String { "\(table)_\(year)_\(Self.pad(month))" }

        package var createSQL: String {
            let (nextYear, nextMonth) = month == 12 ? (year + 1, 1) : (year, month + 1)
            return
                "CREATE TABLE IF NOT EXISTS \(name) PARTITION OF \(table) FOR VALUES FROM ('\(year)-\(Self.pad(month))-01 00:00:00+00') TO ('\(nextYear)-\(Self.pad(nextMonth))-01 00:00:00+00')"
        }

        private static func pad(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
    }

    /// Creates these month partitions (idempotent; serialised by the lock).
    package static func create(_ partitions: Set<Partition>, in db: PostgresConnection) throws(PostgresConnection
        .Failure)
    {
        try db.transaction { () throws(PostgresConnection.Failure) in
            try db.execute("SELECT pg_advisory_xact_lock(\(lockKey))")
            for partition in partitions { try db.execute(partition.createSQL) }
        }
    }
}
