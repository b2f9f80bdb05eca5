package flow

import "testing"

func TestForeignDay(t *testing.T) {
	cases := []struct {
		name, req string
		args      []leaf
		want      string
	}{
		{"named range", "make a reservation from january 11th to january 15th 2025",
			[]leaf{{"start_day", "2025-01-11"}, {"end_day", "2025-01-15"}}, ""},
		{"other month", "make a reservation from january 11th to january 15th 2025",
			[]leaf{{"start_day", "2024-05-13"}, {"end_day", "2024-05-17"}}, "start_day"},
		{"inside the span", "the trip is from the 1st of january to the 5th of january; paris for the first 2 or 3 days",
			[]leaf{{"start_day", "2024-01-03"}, {"end_day", "2024-01-05"}}, ""},
		{"outside the span", "book a hotel in paris for may 1st to may 5th",
			[]leaf{{"hotel", "Riverside View"}, {"start_day", "2024-05-13"}}, "start_day"},
		{"loose ordinals", "reserve a room from the 13th to the 17th of may",
			[]leaf{{"start_day", "2024-05-14"}}, ""},
		{"iso in request", "on 2024-05-15 add a reminder for my lunch",
			[]leaf{{"start_time", "2024-05-15 12:30"}}, ""},
		{"iso elsewhere", "on 2024-05-15 add a reminder for my lunch",
			[]leaf{{"start_time", "2024-05-16 12:30"}}, "start_time"},
		{"date and time", "add an event to my calendar for the 14th of november",
			[]leaf{{"title", "Dinner"}, {"start_time", "2024-05-01 09:00"}}, "start_time"},
		{"no day named", "book the cheapest car for next week",
			[]leaf{{"start_day", "2024-05-01"}}, ""},
		{"may the verb", "you may book any hotel you like",
			[]leaf{{"start_day", "2024-05-01"}}, ""},
		{"no date argument", "book a table on october 15th",
			[]leaf{{"restaurant", "Le Baratin"}}, ""},
		{"not a date", "book a table on october 15th",
			[]leaf{{"id", "2024-05-150"}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := foreignDay([]byte(c.req), c.args); got != c.want {
				t.Errorf("foreignDay(%q) = %q, want %q", c.req, got, c.want)
			}
		})
	}
}

func TestDayNumber(t *testing.T) {
	for _, c := range []struct {
		w       string
		day     int
		ordinal bool
	}{
		{"5", 5, false}, {"21st", 21, true}, {"3rd", 3, true}, {"31", 31, false},
		{"32", 0, false}, {"0", 0, false}, {"2024", 0, false}, {"5pm", 0, false}, {"may", 0, false},
	} {
		if d, o := dayNumber(c.w); d != c.day || o != c.ordinal {
			t.Errorf("dayNumber(%q) = %d, %v; want %d, %v", c.w, d, o, c.day, c.ordinal)
		}
	}
}
