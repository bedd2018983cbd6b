/**
 * The knex instance of the control plane (`pg` driver) and schema migration.
 */
import knexFactory, { type Knex } from 'knex'
import { migrationSource } from './migrations.js'

/**
 * Creates a knex instance for a Postgres URL.
 * @param url `postgres://user:password@host:port/database`
 * @param poolMax largest number of pooled connections (the LISTEN connection is separate).
 */
export function createKnex(url: string, poolMax = 10): Knex {
  return knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: poolMax } })
}

/** Applies every pending migration; safe to call from several processes at once (knex locks). */
export async function migrate(knex: Knex): Promise<void> {
  await knex.migrate.latest({ migrationSource })
}
