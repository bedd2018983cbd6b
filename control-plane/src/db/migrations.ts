/**
 * Knex migrations, kept in code (an in-memory migration source) so the compiled service and the
 * tests run the same list without globbing a directory. Append new migrations; never edit one
 * that has shipped.
 */
import type { Knex } from 'knex'

interface Migration {
  name: string
  up(knex: Knex): Promise<void>
  down(knex: Knex): Promise<void>
}

const migrations: Migration[] = [
  {
    name: '20261122_001_runs',
    async up(knex) {
      await knex.schema.createTable('runs', (t) => {
        t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'))
        t.text('status').notNullable().defaultTo('queued')
        t.text('state_key').notNullable()
        t.text('prompt').notNullable()
        t.text('config_toml').notNullable()
        // The validated request fields other than prompt/config (see services/dispatch-request.ts).
        t.jsonb('request').notNullable()
        t.integer('timeout_s').notNullable()
        t.text('idempotency_key').unique()
        t.text('request_hash')
        t.timestamp('queued_at', { useTz: true }).notNullable().defaultTo(knex.fn.now())
        t.timestamp('started_at', { useTz: true })
        t.timestamp('finished_at', { useTz: true })
        t.text('claimed_by')
        t.text('container_id')
        t.integer('exit_code')
        t.text('reason')
        t.text('message')
        // Why the control plane is stopping a running run ('canceled' | 'timeout'); written before
        // the container is stopped so a restart in between still ends the run with the right status.
        t.text('stop_reason')
        t.timestamp('stop_requested_at', { useTz: true })
        t.text('thread_id')
        t.text('rollout_path')
        t.jsonb('usage')
        t.text('summary')
        t.jsonb('pre_commands')
        t.jsonb('post_commands')
        t.jsonb('git')
      })
      await knex.raw(
        "ALTER TABLE runs ADD CONSTRAINT runs_status_check CHECK (status IN ('queued','running','succeeded','failed','canceled'))",
      )
      await knex.raw('CREATE INDEX runs_queue_idx ON runs (queued_at, id) WHERE status = \'queued\'')
      await knex.raw('CREATE INDEX runs_recent_idx ON runs (queued_at DESC, id DESC)')
      // At most one running run per state key, enforced by Postgres itself: two schedulers that
      // race to claim runs of one state key cannot both win.
      await knex.raw("CREATE UNIQUE INDEX runs_one_running_per_state ON runs (state_key) WHERE status = 'running'")
    },
    async down(knex) {
      await knex.schema.dropTable('runs')
    },
  },
]

/** The knex MigrationSource over {@link migrations}. */
export const migrationSource: Knex.MigrationSource<Migration> = {
  getMigrations: async () => migrations,
  getMigrationName: (m) => m.name,
  getMigration: async (m) => m,
}
