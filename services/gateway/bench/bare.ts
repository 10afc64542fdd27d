/**
 * The baseline of the gateway benchmark: a bare Fastify route that parses the same JSON body and
 * answers 202, nothing else. Run as its own process by bench/gateway.ts (PORT from the environment).
 */
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';

const app = Fastify({ bodyLimit: 256 * 1024 });
app.post('/v1/:kind', async (request, reply) => {
  const body = request.body as { appId?: unknown };
  return reply.code(202).send({ status: 'accepted', requestId: randomUUID(), appId: body.appId });
});
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
