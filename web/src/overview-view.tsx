/** The overview: live now, starting soon, recently ended with winners, counters, the latest audit entries. */
export function OverviewView(_: { canManage: boolean; isAdmin: boolean }) {
  return <h2>Overview</h2>;
}
