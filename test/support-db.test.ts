import t from 'tap'
import pg from 'pg'
import { createTestDatabase } from './support/db.js'

t.test('a test database is created empty and dropped', async (t) => {
  const db = await createTestDatabase()
  const c = new pg.Client({ connectionString: db.url })
  await c.connect()
  const r = await c.query("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'")
  t.equal(r.rows[0].n, 0)
  await c.end()
  await db.drop()
})
