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
  {
    // Projects API (SPEC section 2, "Projects"): a project is a workspace plus the runs (jobs)
    // bound to it. Its status and summary are not stored: they follow its latest job, read
    // through runs, so they can never disagree with it.
    name: '20261123_002_projects',
    async up(knex) {
      await knex.schema.createTable('projects', (t) => {
        t.uuid('id').primary()
        t.text('instruction').notNullable()
        // Absolute host path of DATA_DIR/projects/<id>/ when it was created.
        t.text('workspace').notNullable()
        // Codex config and model every job of the project runs with (a job may override the model).
        t.text('config_toml').notNullable().defaultTo('')
        t.text('model')
        t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now())
        t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now())
      })
      await knex.raw('CREATE INDEX projects_recent_idx ON projects (created_at DESC, id DESC)')
      await knex.schema.alterTable('runs', (t) => {
        t.uuid('project_id').references('projects.id').onDelete('RESTRICT')
        t.text('job_type')
        // The user's instruction for this job (the run's prompt wraps it).
        t.text('job_instruction')
        // The project's .codex/result.json as this job left it (the file is overwritten by the next job).
        t.jsonb('project_result')
      })
      await knex.raw(
        "ALTER TABLE runs ADD CONSTRAINT runs_job_type_check CHECK ((project_id IS NULL AND job_type IS NULL) OR (project_id IS NOT NULL AND job_type IN ('initial_project','edit')))",
      )
      await knex.raw('CREATE INDEX runs_project_idx ON runs (project_id, queued_at, id) WHERE project_id IS NOT NULL')
    },
    async down(knex) {
      await knex.schema.alterTable('runs', (t) => {
        t.dropColumn('project_result')
        t.dropColumn('job_instruction')
        t.dropColumn('job_type')
        t.dropColumn('project_id')
      })
      await knex.schema.dropTable('projects')
    },
  },
]

/** The knex MigrationSource over {@link migrations}. */
export const migrationSource: Knex.MigrationSource<Migration> = {
  getMigrations: async () => migrations,
  getMigrationName: (m) => m.name,
  getMigration: async (m) => m,
}
