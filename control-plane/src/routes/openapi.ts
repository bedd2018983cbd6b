/** `GET /openapi.json`: the OpenAPI 3.1 document, without a token (it describes the API, holds no data). */
import Router from '@koa/router'
import { buildOpenApiDocument } from '../openapi/document.js'

export function openApiRoutes(limits: { timeoutDefaultS: number; timeoutMaxS: number }): Router {
  const router = new Router()
  const body = JSON.stringify(buildOpenApiDocument(limits))
  router.get('/openapi.json', (ctx) => {
    ctx.type = 'application/json'
    ctx.body = body
  })
  return router
}
