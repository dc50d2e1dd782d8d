/**
 * A stand-in for the W&B API server, enough for `@wandb/sdk` 0.5: the two GraphQL calls it makes (`Viewer`,
 * `UpsertBucket`) and its file stream (`/files/<entity>/<project>/<run>/file_stream`).
 */
export function fakeWandbServer(options: { refuseRun?: boolean } = {}) {
  const graphql: { operation: string; variables: Record<string, unknown>; auth: string | null }[] = [];
  const streams: { path: string; body: Record<string, unknown> }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const url = new URL(request.url);
    const body = await request.json();
    if (url.pathname === "/graphql") {
      graphql.push({
        operation: body.operationName,
        variables: body.variables,
        auth: request.headers.get("authorization"),
      });
      if (body.operationName === "Viewer") {
        return Response.json({
          data: { viewer: { id: "u1", entity: "tester", flags: "", teams: { edges: [] } } },
        });
      }
      if (options.refuseRun) return new Response("forbidden", { status: 403 });
      const v = body.variables;
      return Response.json({
        data: {
          upsertBucket: {
            bucket: {
              id: "b1",
              name: v.name,
              displayName: v.displayName ?? "made-up-name",
              description: null,
              config: v.config,
              sweepName: null,
              project: { id: "p1", name: v.project, entity: { id: "e1", name: v.entity } },
            },
            inserted: true,
          },
        },
      });
    }
    streams.push({ path: url.pathname, body });
    return Response.json({});
  });
  return { server, graphql, streams, url: `http://127.0.0.1:${server.addr.port}` };
}

/** The history lines (one JSON object per `log`) that reached a fake server's file stream. */
export function historyLines(
  streams: readonly { body: Record<string, unknown> }[],
): Record<string, unknown>[] {
  type Files = Record<string, { content: string[] }>;
  return streams.flatMap((s) => (s.body.files as Files | undefined)?.["wandb-history.jsonl"]?.content ?? [])
    .map((line) => JSON.parse(line));
}
