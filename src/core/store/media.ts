import type {Sql} from '../ports.js'

// Media rows: who uploaded what, and which conversations reference it. A user may use (send, download)
// a media id they uploaded, or one referenced in a conversation they are a member of now.

export interface MediaAccess {
  contentType: string
  size: number
  allowed: boolean
}

/** Records an upload; returns the stored row (the first upload of these bytes decided its type). */
export async function recordUpload(
  sql: Sql,
  upload: {id: string; contentType: string; size: number; user: string},
): Promise<{contentType: string; size: number}> {
  return sql.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO media (id, content_type, size, uploaded_by) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING`,
      [upload.id, upload.contentType, upload.size, upload.user],
    )
    await tx.query(`INSERT INTO media_uploads (media_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [upload.id, upload.user])
    const {rows} = await tx.query<{content_type: string; size: string | number}>(`SELECT content_type, size FROM media WHERE id = $1`, [upload.id])
    return {contentType: rows[0]!.content_type, size: Number(rows[0]!.size)}
  })
}

/** The media row and whether `user` may use it; undefined when there is no such media. */
export async function mediaAccess(sql: Sql, id: string, user: string): Promise<MediaAccess | undefined> {
  const {rows} = await sql.query<{content_type: string; size: string | number; allowed: boolean}>(
    `SELECT m.content_type, m.size,
            EXISTS (SELECT 1 FROM media_uploads u WHERE u.media_id = m.id AND u.user_id = $2)
            OR EXISTS (SELECT 1 FROM media_refs r JOIN members mb ON mb.conversation_id = r.conversation_id
                        WHERE r.media_id = m.id AND mb.user_id = $2) AS allowed
       FROM media m WHERE m.id = $1`,
    [id, user],
  )
  const row = rows[0]
  return row && {contentType: row.content_type, size: Number(row.size), allowed: row.allowed}
}

/** Lets the members of `conversation` download `id` (idempotent). */
export async function addMediaRef(sql: Sql, id: string, conversation: string): Promise<void> {
  await sql.query(`INSERT INTO media_refs (media_id, conversation_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [id, conversation])
}
