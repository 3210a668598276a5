/**
 * "Who was told what, when", in the tamper-evident log: every notification list the ledger produces for a
 * vulnerability (the input to informing the users, CRA Art. 14(8)) is recorded as a NotificationListProduced
 * event, signed with the ledger key, in the stream ledger-notifications-<vulnerability>: the query, the
 * SHA-256 of the bytes served, how many units and customers they name, who asked (the bearer token's name and
 * role), and the checkpoint the ledger had signed, covering the events the list was computed from.
 *
 * The record is appended once the whole list has been produced (for a streamed list: after its last byte),
 * so a list that failed half-way is not recorded as given.
 */
import type { EventStore } from '../store/event-store.ts';
import { WrongExpectedVersionError } from '../store/event-store.ts';
import type { Checkpointer } from '../write/checkpointer.ts';
import { decodeTrustedEnvelope } from '../event/codec.ts';
import { ledgerNotificationStream } from '../event/streams.ts';
import { toHex } from '../crypto/encoding.ts';
import { nativeCrypto } from '../native/crypto.ts';
import { parseNote } from '../tlog/note.ts';
import { parseCheckpointBody } from '../tlog/checkpoint.ts';
import type { EventOf } from '../../schemas/index.ts';

export type NotificationListRecordData = EventOf<'NotificationListProduced'>['data'];

export interface NotificationRecorderDeps {
  readonly store: EventStore;
  readonly checkpointer: Checkpointer;
  readonly clock?: () => Date;
}

/** What the caller knows of the list it produced; the checkpoint is the recorder's to find. */
export type ProducedList = Omit<NotificationListRecordData, 'asOf'>;

export interface NotificationRecorder {
  /** The checkpoint a list computed now is as of: signed for the log as it is (or the latest, if nothing was added). */
  asOf(): Promise<NotificationListRecordData['asOf']>;
  record(list: ProducedList, asOf: NotificationListRecordData['asOf']): Promise<{ readonly eventId: string }>;
}

export function notificationRecorder(deps: NotificationRecorderDeps): NotificationRecorder {
  return {
    async asOf() {
      const note = await deps.checkpointer.issue();
      const body = parseCheckpointBody(parseNote(note).text);
      return { size: body.size, rootHash: toHex(body.root) };
    },
    async record(list, asOf) {
      const stream = ledgerNotificationStream(list.vulnerabilityId);
      for (let attempt = 1; ; attempt++) {
        const [head] = await deps.store.readStream(stream, { direction: 'backwards', maxCount: 1 });
        const prev = head ? decodeTrustedEnvelope(head.data, nativeCrypto).digest : null;
        // By the ledger key in force (on a shared log mid-rotation, not necessarily this process's own), appended
        // under the rotation's lock (Checkpointer.appendRecord).
        let eventId = '';
        try {
          await deps.checkpointer.appendRecord((signer) => {
            const signed = signer.sign('NotificationListProduced', { ...list, asOf }, { prev });
            eventId = signed.event.id;
            return signed;
          }, head ? head.revision : null);
          return { eventId };
        } catch (error) {
          // Another list of the same vulnerability was recorded first: chain after it.
          if (!(error instanceof WrongExpectedVersionError) || attempt >= 5) throw error;
        }
      }
    },
  };
}
