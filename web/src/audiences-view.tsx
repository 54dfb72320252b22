import { createClient } from "@connectrpc/connect";
import { useMutation, useQuery, useTransport } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useMemo, useState } from "react";
import { type Audience, AudienceService } from "../../gen/liveops/v1/audience_service_pb.js";
import { AudienceEditor, type AudienceInit } from "./audience-editor.js";
import { ConfirmButton, ErrorNotice, Loading, Pager, Time } from "./components.js";

const PAGE_SIZE = 50;
/** Players a preview names as examples. */
const SAMPLE_SIZE = 5;

/** Audiences: the list; create and edit with a live preview; delete (refused while an event targets one). */
export function AudiencesView() {
  const [pages, setPages] = useState<string[]>([""]);
  const [editing, setEditing] = useState<Audience | "new" | undefined>();
  const list = useQuery(AudienceService.method.listAudiences, { pageSize: PAGE_SIZE, pageToken: pages.at(-1) ?? "" });
  const create = useMutation(AudienceService.method.createAudience);
  const update = useMutation(AudienceService.method.updateAudience);
  const remove = useMutation(AudienceService.method.deleteAudience);
  const queryClient = useQueryClient();
  const transport = useTransport();
  const client = useMemo(() => createClient(AudienceService, transport), [transport]);
  const preview = useCallback(
    (audience: AudienceInit, signal: AbortSignal) =>
      client.previewAudience({ audience, sampleSize: SAMPLE_SIZE }, { signal }),
    [client],
  );

  if (editing) {
    return (
      <AudienceEditor
        initial={editing === "new" ? undefined : editing}
        preview={preview}
        onCancel={() => setEditing(undefined)}
        onSubmit={async (audience) => {
          if (editing === "new") await create.mutateAsync({ audience });
          else await update.mutateAsync({ audience: { ...audience, name: editing.name, etag: editing.etag } });
          setEditing(undefined);
          await queryClient.invalidateQueries();
        }}
      />
    );
  }

  return (
    <section aria-labelledby="audiences-heading">
      <div className="toolbar">
        <h2 id="audiences-heading">Audiences</h2>
        <button type="button" className="primary" onClick={() => setEditing("new")}>
          Create audience
        </button>
      </div>
      {list.isPending && <Loading what="audiences" />}
      <ErrorNotice error={list.error} />
      {list.data && (
        <>
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Expression</th>
                  <th scope="col">Listed players</th>
                  <th scope="col">Updated</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {list.data.audiences.length === 0 && (
                  <tr>
                    <td colSpan={5} className="muted">
                      No audiences.
                    </td>
                  </tr>
                )}
                {list.data.audiences.map((audience) => (
                  <tr key={audience.name} data-audience={audience.name}>
                    <td>
                      <strong>{audience.name}</strong>
                      {audience.description && <div className="muted">{audience.description}</div>}
                    </td>
                    <td>
                      {audience.expression ? (
                        <code className="expression">{audience.expression}</code>
                      ) : (
                        <span className="muted">none: listed players only</span>
                      )}
                    </td>
                    <td>
                      {audience.includePlayerIds.length} included, {audience.excludePlayerIds.length} excluded
                    </td>
                    <td>
                      <Time value={audience.updateTime} />
                    </td>
                    <td className="row-actions">
                      <button type="button" onClick={() => setEditing(audience)}>
                        Edit
                      </button>
                      <ConfirmButton
                        label="Delete"
                        danger
                        question={`Delete the audience “${audience.name}”?`}
                        onConfirm={() =>
                          remove
                            .mutateAsync({ name: audience.name, etag: audience.etag })
                            .then(() => queryClient.invalidateQueries())
                        }
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager pages={pages} setPages={setPages} nextPageToken={list.data.nextPageToken} />
        </>
      )}
    </section>
  );
}
