/**
 * Beyond Pulse: poll or cancel an asynchronous job, for clients without a public webhook receiver.
 *   GET    /waves/v1/jobs/:request_id   status, timings, webhook delivery state, result while retained
 *   DELETE /waves/v1/jobs/:request_id   cancel a job that has not started (409 once it has)
 * A job is visible only to the API key that submitted it (others get 404).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { JobsService } from '../jobs/index.ts';
import { keyIdOf } from '../jobs/limits.ts';
import { ApiError } from './errors.ts';

const notFound = (id: string) =>
  new ApiError(404, { status: 'error', message: `No job ${id}: unknown request id, or its results were deleted after the retention period`, errors: [] });

export const jobsRoutes: FastifyPluginAsync<{ jobs: JobsService }> = async (app, { jobs }) => {
  const paths = ['/waves/v1/jobs/:request_id', '/api/v1/jobs/:request_id'];
  for (const url of paths) {
    app.get<{ Params: { request_id: string } }>(url, async (req) => {
      const id = req.params.request_id;
      if ((await jobs.queue.owner(id)) !== keyIdOf(req)) throw notFound(id);
      const view = await jobs.queue.get(id);
      if (!view) throw notFound(id);
      return view;
    });
    app.delete<{ Params: { request_id: string } }>(url, async (req) => {
      const id = req.params.request_id;
      if ((await jobs.queue.owner(id)) !== keyIdOf(req)) throw notFound(id);
      const r = await jobs.queue.cancel(id);
      if (r === 'not_found') throw notFound(id);
      if (r === 'not_cancellable') {
        throw new ApiError(409, { status: 'error', message: `Job ${id} has already started or finished and cannot be cancelled`, errors: [] });
      }
      return { status: 'cancelled', request_id: id };
    });
  }
};
