// Schema migrations, applied in order by `msgr db migrate` (and automatically by `msgr serve all`).
// Never edit a released migration: add a new one.

export interface Migration {
  version: number
  name: string
  sql: string
}

/** Hash partitions of `messages`; fixed at creation (a later migration can split them). */
export const MESSAGE_TABLE_PARTITIONS = 16

const messagePartitions = Array.from(
  {length: MESSAGE_TABLE_PARTITIONS},
  (_, i) => `CREATE TABLE messages_p${i} PARTITION OF messages FOR VALUES WITH (MODULUS ${MESSAGE_TABLE_PARTITIONS}, REMAINDER ${i});`,
).join('\n')

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'core',
    sql: `
CREATE TABLE users (
  id           uuid PRIMARY KEY,
  phone        text NOT NULL UNIQUE,
  display_name text,
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
  id           uuid PRIMARY KEY,
  user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name         text NOT NULL,
  platform     text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz,
  revoked_at   timestamptz
);
CREATE INDEX devices_user_idx ON devices (user_id);

-- One session (refresh-token family) per device; the refresh token rotates on every use.
CREATE TABLE sessions (
  id             uuid PRIMARY KEY,
  device_id      uuid NOT NULL UNIQUE REFERENCES devices (id) ON DELETE CASCADE,
  user_id        uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  refresh_hash   bytea NOT NULL UNIQUE,
  generation     integer NOT NULL DEFAULT 1,
  created_at     timestamptz NOT NULL DEFAULT now(),
  rotated_at     timestamptz NOT NULL DEFAULT now(),
  expires_at     timestamptz NOT NULL,
  revoked_at     timestamptz
);
-- Hashes of refresh tokens already rotated away: presenting one again revokes the session (reuse detection).
CREATE TABLE used_refresh_tokens (
  refresh_hash bytea PRIMARY KEY,
  session_id   uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  used_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE otp_codes (
  phone      text PRIMARY KEY,
  code_hash  bytea NOT NULL,
  attempts   integer NOT NULL DEFAULT 0,
  sent_count integer NOT NULL DEFAULT 1,
  window_start timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- Filled only by the development SMS sink, read by GET /v1/dev/otp.
CREATE TABLE dev_otp_outbox (
  phone      text PRIMARY KEY,
  code       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE conversations (
  id          uuid PRIMARY KEY,
  kind        text NOT NULL CHECK (kind IN ('direct', 'group')),
  title       text,
  created_by  uuid REFERENCES users (id),
  created_at  timestamptz NOT NULL DEFAULT now(),
  last_seq    bigint NOT NULL DEFAULT 0,
  last_ts     timestamptz,
  -- Transaction that last changed the row: inbox sync tokens compare against snapshot xmin.
  changed_xid xid8 NOT NULL DEFAULT pg_current_xact_id()
);

CREATE TABLE members (
  conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role            text NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
  joined_at       timestamptz NOT NULL DEFAULT now(),
  joined_seq      bigint NOT NULL DEFAULT 0,
  delivered_seq   bigint NOT NULL DEFAULT 0,
  read_seq        bigint NOT NULL DEFAULT 0,
  changed_xid     xid8 NOT NULL DEFAULT pg_current_xact_id(),
  PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX members_user_idx ON members (user_id);

-- Partitioned by conversation (Citus-ready: distribute by conversation_id). No foreign keys here:
-- the worker is the only writer and checks membership before it assigns a seq.
CREATE TABLE messages (
  conversation_id uuid NOT NULL,
  seq             bigint NOT NULL,
  id              uuid NOT NULL,
  sender_id       uuid NOT NULL,
  sender_device   uuid NOT NULL,
  client_msg_id   text NOT NULL,
  kind            text NOT NULL,
  body            jsonb NOT NULL,
  reply_to        bigint,
  created_at      timestamptz NOT NULL,
  PRIMARY KEY (conversation_id, seq),
  UNIQUE (conversation_id, sender_id, client_msg_id)
) PARTITION BY HASH (conversation_id);
${messagePartitions}

-- Control plane: node registry and partition leases.
CREATE TABLE nodes (
  id           text PRIMARY KEY,
  role         text NOT NULL,
  address      text,
  version      text NOT NULL,
  state        text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'draining', 'stopped')),
  started_at   timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  stats        jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE TABLE partition_leases (
  partition  integer PRIMARY KEY,
  owner      text,
  epoch      bigint NOT NULL DEFAULT 0,
  expires_at timestamptz NOT NULL DEFAULT 'epoch'
);

CREATE TABLE cluster_settings (
  key   text PRIMARY KEY,
  value jsonb NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'groups',
    sql: `
ALTER TABLE conversations
  ADD COLUMN description text,
  ADD COLUMN picture text,
  ADD COLUMN deleted_at timestamptz;

-- Personal, per-member settings (not part of the conversation's seq stream).
ALTER TABLE members
  ADD COLUMN muted boolean NOT NULL DEFAULT false,
  ADD COLUMN archived boolean NOT NULL DEFAULT false,
  ADD COLUMN added_by uuid;

-- People who were members: removed, left, banned or the group was deleted. Their inbox still shows
-- the conversation, ending at left_seq; they receive nothing after it.
CREATE TABLE former_members (
  conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  left_seq        bigint NOT NULL,
  reason          text NOT NULL CHECK (reason IN ('removed', 'left', 'banned', 'deleted')),
  at              timestamptz NOT NULL DEFAULT now(),
  changed_xid     xid8 NOT NULL DEFAULT pg_current_xact_id(),
  PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX former_members_user_idx ON former_members (user_id);

CREATE TABLE group_bans (
  conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  banned_by       uuid NOT NULL,
  at              timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (conversation_id, user_id)
);

CREATE TABLE group_invites (
  code            text PRIMARY KEY,
  conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  created_by      uuid NOT NULL,
  approval        boolean NOT NULL DEFAULT false,
  created_at      timestamptz NOT NULL DEFAULT now(),
  revoked_at      timestamptz
);
CREATE INDEX group_invites_conversation_idx ON group_invites (conversation_id);

CREATE TABLE join_requests (
  conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  invite_code     text,
  at              timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (conversation_id, user_id)
);
`,
  },
  {
    version: 3,
    name: 'rich-messaging',
    sql: `
-- Edits, deletes and reactions are entries of the conversation's own seq stream (so offline devices get
-- them through sync); these columns keep the target message's current state.
ALTER TABLE messages
  ADD COLUMN meta jsonb,
  ADD COLUMN edited_at timestamptz,
  ADD COLUMN deleted_at timestamptz,
  ADD COLUMN version integer NOT NULL DEFAULT 1;

CREATE TABLE message_versions (
  conversation_id uuid NOT NULL,
  seq             bigint NOT NULL,
  version         integer NOT NULL,
  body            jsonb NOT NULL,
  edited_at       timestamptz NOT NULL,
  PRIMARY KEY (conversation_id, seq, version)
);

CREATE TABLE message_reactions (
  conversation_id uuid NOT NULL,
  seq             bigint NOT NULL,
  user_id         uuid NOT NULL,
  emoji           text NOT NULL,
  at              timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (conversation_id, seq, user_id, emoji)
);

-- "Delete for me": hidden from one user's sync on every device.
CREATE TABLE hidden_messages (
  user_id         uuid NOT NULL,
  conversation_id uuid NOT NULL,
  seq             bigint NOT NULL,
  PRIMARY KEY (user_id, conversation_id, seq)
);

CREATE TABLE blocks (
  blocker_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  blocked_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (blocker_id, blocked_id)
);
CREATE INDEX blocks_blocked_idx ON blocks (blocked_id);

-- Content-addressed media: id is the sha256 of the bytes.
CREATE TABLE media (
  id           text PRIMARY KEY,
  content_type text NOT NULL,
  size         bigint NOT NULL,
  uploaded_by  uuid NOT NULL REFERENCES users (id),
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE media_uploads (
  media_id   text NOT NULL REFERENCES media (id) ON DELETE CASCADE,
  user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (media_id, user_id)
);
-- Which conversations reference a media id: its members may download it.
CREATE TABLE media_refs (
  media_id        text NOT NULL REFERENCES media (id) ON DELETE CASCADE,
  conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  PRIMARY KEY (media_id, conversation_id)
);

-- Full-text search over message text (server-side search; encrypted conversations are not indexed).
CREATE FUNCTION msgr_search_text(kind text, body jsonb) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $f$
    SELECT CASE
      WHEN kind IN ('system', 'reaction', 'edit', 'delete', 'encrypted') THEN ''
      WHEN jsonb_typeof(body) = 'string' THEN body #>> '{}'
      ELSE concat_ws(' ', body ->> 'text', body ->> 'caption', body ->> 'name')
    END
  $f$;
CREATE INDEX messages_search_idx ON messages USING gin (to_tsvector('simple', msgr_search_text(kind, body)));
`,
  },
  {
    version: 4,
    name: 'drain',
    sql: `
-- A drain requested by an operator: the node reads it on its next heartbeat and carries it out.
ALTER TABLE nodes ADD COLUMN drain jsonb;
`,
  },
  {
    version: 5,
    name: 'push',
    sql: `
-- Per-device notification preferences (previews, quiet hours, on/off); see src/core/push/prefs.ts.
ALTER TABLE devices ADD COLUMN notify_prefs jsonb NOT NULL DEFAULT '{}'::jsonb;

-- One push registration per device; a token belongs to one device (re-registering elsewhere moves it).
CREATE TABLE push_tokens (
  device_id  uuid PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
  user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  provider   text NOT NULL CHECK (provider IN ('webpush', 'fcm', 'apns', 'log')),
  token      text NOT NULL,
  -- Web Push: the PushSubscription ({endpoint, keys: {p256dh, auth}}).
  subscription jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (provider, token)
);
CREATE INDEX push_tokens_user_idx ON push_tokens (user_id);

-- What the notification worker did for a device: one row per notification attempt outcome.
CREATE TABLE push_history (
  id            uuid PRIMARY KEY,
  device_id     uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  user_id       uuid NOT NULL,
  status        text NOT NULL CHECK (status IN ('sent', 'retrying', 'dead_lettered', 'token_removed', 'dropped')),
  provider      text,
  title         text,
  body          text,
  message_count integer NOT NULL,
  conversations uuid[] NOT NULL,
  attempt       integer NOT NULL,
  detail        text,
  provider_id   text,
  at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX push_history_device_idx ON push_history (device_id, at DESC);
`,
  },
  {
    version: 6,
    name: 'e2e-keys',
    sql: `
-- End-to-end encryption key directory (docs/e2e.md): public keys only, base64. One row per device that
-- uploaded keys; the identity key and the last-resort (signed and Kyber) prekeys are replaced in place.
CREATE TABLE e2e_devices (
  device_id              uuid PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
  user_id                uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  registration_id        integer NOT NULL,
  identity_key           text NOT NULL,
  signed_prekey_id       integer NOT NULL,
  signed_prekey          text NOT NULL,
  signed_prekey_sig      text NOT NULL,
  kyber_prekey_id        integer NOT NULL,
  kyber_prekey           text NOT NULL,
  kyber_prekey_sig       text NOT NULL,
  updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX e2e_devices_user_idx ON e2e_devices (user_id);

-- One-time prekeys: keys.bundle deletes the one it hands out.
CREATE TABLE e2e_prekeys (
  device_id  uuid NOT NULL REFERENCES e2e_devices (device_id) ON DELETE CASCADE,
  key_id     integer NOT NULL,
  public_key text NOT NULL,
  PRIMARY KEY (device_id, key_id)
);
`,
  },
  {
    version: 7,
    name: 'push-history-retention',
    sql: `
-- The notifier deletes push_history rows older than --push-history-days (docs/push.md) by time.
CREATE INDEX push_history_at_idx ON push_history (at);
`,
  },
  {
    version: 8,
    name: 'store-batch-function',
    sql: `
-- The worker's per-batch statements as PL/pgSQL functions. First its write (src/core/store/message-writer.ts, commitBatch):
-- PL/pgSQL keeps the statement's plan for the session, so a batch no longer pays parsing and planning
-- of a three-CTE statement over a partitioned table on every call (most of a small batch's cost).
-- - moved: compare-and-set of last_seq; a conversation advanced by someone else is not moved.
-- - watermarks: sending implies having read up to there.
-- - inserted: the messages; a key already stored is skipped.
-- Unless every conversation moved and every message went in, it raises, so that its statement (and the
-- transaction around it, if any) writes nothing: SQLSTATE MS409 with the stale conversations as a JSON
-- array in DETAIL, or MS208 with the [conversation, sender, client_msg_id] keys already stored. A batch
-- without group commands is this one statement in autocommit: one round trip, no BEGIN and COMMIT.
CREATE FUNCTION msgr_store_batch(
  adv_id uuid[], adv_from bigint[], adv_to bigint[], adv_ts timestamptz[],
  own_conv uuid[], own_user uuid[], own_seq bigint[],
  m_conv uuid[], m_seq bigint[], m_id uuid[], m_sender uuid[], m_device uuid[], m_client_msg_id text[], m_kind text[],
  m_body jsonb[], m_reply_to bigint[], m_created_at timestamptz[], m_meta jsonb[], advances integer
) RETURNS void
  LANGUAGE plpgsql AS $f$
DECLARE
  stale jsonb;
  skipped jsonb;
BEGIN
  WITH moved AS (
    UPDATE conversations c SET last_seq = v.to_seq, last_ts = v.ts, changed_xid = pg_current_xact_id()
      FROM unnest(adv_id, adv_from, adv_to, adv_ts) AS v(id, from_seq, to_seq, ts)
     WHERE c.id = v.id AND c.last_seq = v.from_seq
    RETURNING c.id
  ), watermarks AS (
    UPDATE members m SET read_seq = GREATEST(m.read_seq, v.seq), delivered_seq = GREATEST(m.delivered_seq, v.seq),
           changed_xid = pg_current_xact_id()
      FROM unnest(own_conv, own_user, own_seq) AS v(conv, usr, seq)
     WHERE m.conversation_id = v.conv AND m.user_id = v.usr AND (SELECT count(*) FROM moved) = advances
  ), inserted AS (
    INSERT INTO messages AS ms (conversation_id, seq, id, sender_id, sender_device, client_msg_id, kind, body, reply_to, created_at, meta)
    SELECT * FROM unnest(m_conv, m_seq, m_id, m_sender, m_device, m_client_msg_id, m_kind, m_body, m_reply_to, m_created_at, m_meta)
     -- Only when every conversation moved: a stale seq must fail as a fencing conflict, not as a duplicate key.
     WHERE (SELECT count(*) FROM moved) = advances
    ON CONFLICT (conversation_id, sender_id, client_msg_id) DO NOTHING
    RETURNING ms.conversation_id, ms.sender_id, ms.client_msg_id
  )
  SELECT (SELECT jsonb_agg(a.id) FROM unnest(adv_id) AS a(id) WHERE a.id NOT IN (SELECT id FROM moved)),
         (SELECT jsonb_agg(jsonb_build_array(k.c, k.s, k.m)) FROM unnest(m_conv, m_sender, m_client_msg_id) AS k(c, s, m)
           WHERE NOT EXISTS (SELECT 1 FROM inserted i WHERE i.conversation_id = k.c AND i.sender_id = k.s AND i.client_msg_id = k.m))
    INTO stale, skipped;
  IF stale IS NOT NULL THEN
    RAISE EXCEPTION 'last_seq moved under the batch' USING ERRCODE = 'MS409', DETAIL = stale::text;
  END IF;
  IF skipped IS NOT NULL THEN
    RAISE EXCEPTION 'messages of the batch were already stored' USING ERRCODE = 'MS208', DETAIL = skipped::text;
  END IF;
END
$f$;

-- The push planner's per-batch question (src/core/store/push-tokens.ts, pushableDevices), for the same
-- reason: planning its four-way join cost more than running it for a small batch.
CREATE FUNCTION msgr_pushable_devices(pair_conv uuid[], pair_user uuid[])
  RETURNS TABLE (conversation_id uuid, user_id uuid, device_id uuid)
  LANGUAGE plpgsql STABLE AS $f$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  -- Driven from push_tokens (by user): recipients without a registration cost one index probe each.
  SELECT m.conversation_id, m.user_id, d.id
    FROM unnest(pair_conv, pair_user) AS p(conv, usr)
    JOIN push_tokens t ON t.user_id = p.usr
    JOIN devices d ON d.id = t.device_id AND d.revoked_at IS NULL AND (d.notify_prefs ->> 'enabled') IS DISTINCT FROM 'false'
    JOIN members m ON m.conversation_id = p.conv AND m.user_id = p.usr AND NOT m.muted;
END
$f$;
`,
  },
]
