/**
 * `GET /ui`: the web UI, one self-contained HTML page served without a token (it holds no data;
 * its script asks for the token and sends it on every API call). A Content-Security-Policy allows
 * only this page's own inline script and style (by hash) and requests to this origin.
 */
import crypto from 'node:crypto'
import Router from '@koa/router'
import { CLIENT_JS } from '../ui/client.js'
import { PAGE_HTML, STYLE_CSS } from '../ui/page.js'

const sha256 = (text: string) => `'sha256-${crypto.createHash('sha256').update(text, 'utf8').digest('base64')}'`

export function uiRoutes(): Router {
  const router = new Router()
  const html = PAGE_HTML.replace('{{STYLE}}', () => STYLE_CSS).replace('{{SCRIPT}}', () => CLIENT_JS)
  const csp = [
    "default-src 'none'",
    `script-src ${sha256(CLIENT_JS)}`,
    `style-src ${sha256(STYLE_CSS)}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "form-action 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ')
  router.get('/ui', (ctx) => {
    ctx.type = 'text/html; charset=utf-8'
    ctx.set('Content-Security-Policy', csp)
    ctx.set('Referrer-Policy', 'no-referrer')
    ctx.set('X-Content-Type-Options', 'nosniff')
    ctx.set('Cache-Control', 'no-cache')
    ctx.body = html
  })
  return router
}
