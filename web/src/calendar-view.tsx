/** The calendar of runs, by week and by month. */
export function CalendarView() {
  return <h2>Calendar</h2>;
}
