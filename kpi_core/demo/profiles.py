"""Who works at the demo company, how each technician tends to perform, and what people say.

The profiles are the demo's story: most technicians are ordinary, and a few
stand out in one way each (often late, many callbacks, overrunning their
estimates, excellent, improving, slipping), so every KPI and dashboard has
something to show. The seeder draws each job's numbers from its
technician's profile, and names and comments from the pools below.
"""

from __future__ import annotations

from dataclasses import dataclass

TEAMS: tuple[str, ...] = ("North Crew", "Central Crew", "South Crew")


@dataclass(frozen=True)
class Profile:
    """A technician and the tendencies their generated jobs follow.

    Rates drift linearly from the ``*_start`` value at the start of the
    history to ``*_end`` at its end, so trends have something to show.
    """

    ref: str
    name: str
    team: int
    kind: str
    specialties: tuple[str, ...]
    late_start: float = 0.06
    """Share of visits more than 15 minutes late."""
    late_end: float | None = None
    callback_rate: float = 0.05
    """Share of completed jobs that need a return visit."""
    overrun: float = 0.97
    """Typical ratio of time worked to the estimate."""
    quality_start: float = 4.65
    """Mean customer rating before penalties for lateness, overruns and rework."""
    quality_end: float | None = None
    weak_spots: tuple[str, ...] = ()
    """Words in evaluation field keys that the manager rates this technician low on."""
    evaluation_level: float = 3.9
    """Mean 1-5 rating the manager gives this technician on other questions."""
    hired_months_ago: int | None = None
    """Joined during the history; ``None`` means before it."""
    helps: float = 1.0
    """How often this technician is chosen as a crew's helper, against 1 for most (new hires help more)."""
    left_months_ago: int | None = None

    def late_rate(self, elapsed: float) -> float:
        """The share of late arrivals ``elapsed`` into the history (0 = its start, 1 = today)."""
        return _drift(self.late_start, self.late_end, elapsed)

    def quality(self, elapsed: float) -> float:
        """The mean customer rating ``elapsed`` into the history (0 = its start, 1 = today)."""
        return _drift(self.quality_start, self.quality_end, elapsed)


def _drift(start: float, end: float | None, elapsed: float) -> float:
    return start if end is None else start + (end - start) * elapsed


PUNCTUALITY = ("punctual", "timeliness", "paperwork")
WORKMANSHIP = ("workmanship", "quality", "safety")
PLANNING = ("communication", "budget", "estimate", "efficien")

# fmt: off
PROFILES: tuple[Profile, ...] = (
    # North Crew
    Profile("TECH-001", "Maria Gonzalez", 0, "excellent", ("plumbing", "hvac"), late_start=0.015,
            callback_rate=0.015, overrun=0.92, quality_start=5.05, evaluation_level=4.6),
    Profile("TECH-002", "Derek Olsen", 0, "late", ("carpentry", "general"), late_start=0.34, quality_start=4.3,
            weak_spots=PUNCTUALITY),
    Profile("TECH-003", "Aisha Mohammed", 0, "ordinary", ("electrical", "appliance")),
    Profile("TECH-004", "Tom Becker", 0, "callbacks", ("plumbing", "drywall"), callback_rate=0.17, quality_start=4.2,
            weak_spots=WORKMANSHIP),
    Profile("TECH-005", "Luis Ramirez", 0, "ordinary", ("painting", "drywall"), late_start=0.08),
    Profile("TECH-006", "Hannah Kowalski", 0, "ordinary", ("general", "carpentry"), callback_rate=0.06),
    Profile("TECH-007", "Samuel Okafor", 0, "overrun", ("hvac", "electrical"), overrun=1.3, weak_spots=PLANNING),
    Profile("TECH-008", "Grace Lindqvist", 0, "ordinary", ("appliance", "general"), quality_start=4.75),
    # Central Crew
    Profile("TECH-009", "James O'Connor", 1, "excellent", ("electrical", "general"), late_start=0.02,
            callback_rate=0.02, overrun=0.94, quality_start=5.0, evaluation_level=4.5),
    Profile("TECH-010", "Priya Nair", 1, "ordinary", ("painting", "general")),
    Profile("TECH-011", "Kevin Tran", 1, "late", ("hvac", "appliance"), late_start=0.3, late_end=0.36,
            quality_start=4.35, weak_spots=PUNCTUALITY),
    Profile("TECH-012", "Rosa Delgado", 1, "ordinary", ("plumbing", "general"), overrun=1.02),
    Profile("TECH-013", "Ben Fischer", 1, "improving", ("carpentry", "drywall"), late_start=0.28, late_end=0.05,
            callback_rate=0.08, quality_start=4.2, quality_end=4.8, hired_months_ago=14, helps=2.0),
    Profile("TECH-014", "Olivia Brooks", 1, "ordinary", ("painting", "drywall"), late_start=0.05),
    Profile("TECH-015", "Marcus Johnson", 1, "overrun", ("carpentry", "general"), overrun=1.27, quality_start=4.5,
            weak_spots=PLANNING),
    Profile("TECH-016", "Chen Wei", 1, "ordinary", ("electrical", "hvac"), callback_rate=0.04),
    Profile("TECH-017", "Nadia Petrova", 1, "ordinary", ("appliance", "plumbing"), hired_months_ago=6, helps=3.0),
    # South Crew
    Profile("TECH-018", "Patrick Murphy", 2, "declining", ("plumbing", "general"), late_start=0.05, late_end=0.16,
            callback_rate=0.07, quality_start=4.8, quality_end=4.1),
    Profile("TECH-019", "Fatima Haddad", 2, "excellent", ("painting", "carpentry"), late_start=0.02,
            callback_rate=0.02, overrun=0.93, quality_start=4.95, evaluation_level=4.4),
    Profile("TECH-020", "Jake Sullivan", 2, "callbacks", ("electrical", "general"), late_start=0.09,
            callback_rate=0.14, quality_start=4.25, weak_spots=WORKMANSHIP),
    Profile("TECH-021", "Emily Carter", 2, "ordinary", ("drywall", "painting")),
    Profile("TECH-022", "Diego Alvarez", 2, "ordinary", ("hvac", "plumbing"), overrun=1.04),
    Profile("TECH-023", "Sofia Rossi", 2, "ordinary", ("general", "appliance"), late_start=0.07),
    Profile("TECH-024", "Andre Williams", 2, "ordinary", ("carpentry", "general"), left_months_ago=4),
    Profile("TECH-025", "Mei Tanaka", 2, "ordinary", ("electrical", "appliance"), quality_start=4.7),
)

FIRST_NAMES: tuple[str, ...] = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony", "Sandra", "Mark", "Margaret",
    "Steven", "Ashley", "Paul", "Kimberly", "Andrew", "Emily", "Joshua", "Donna", "Kenneth", "Michelle",
    "Ahmed", "Yuki", "Carlos", "Ana", "Ivan", "Leila", "Kwame", "Ingrid", "Raj", "Lucia", "Omar", "Hana",
    "Pedro", "Zoe", "Tariq", "Elena", "Mateo", "Chloe", "Noah", "Amara",
)
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee",
    "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker",
    "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams",
    "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Kim", "Patel", "Schmidt",
    "Novak", "Haddad", "Okoye", "Sato", "Jansen", "Costa", "Dubois", "Larsen",
)
BUSINESS_NAMES: tuple[str, ...] = (
    "{last} Property Management", "{last} & Sons Bakery", "Oakridge Apartments", "Riverside Dental",
    "{last} Family Practice", "Maple Court HOA", "The Corner Cafe", "{last} Law Office",
    "Sunrise Daycare", "Harbor View Condos", "{last} Realty", "Green Leaf Yoga Studio",
)

# What customers write, by the rating they gave ({first}: the technician's first name).
FEEDBACK_COMMENTS: dict[int, tuple[str, ...]] = {
    5: ("{first} was fantastic, will ask for them again.", "Quick, tidy and friendly.", "Great job, thank you!",
        "Explained everything and left the place spotless.", "Fixed in no time. Very happy."),
    4: ("Good work, arrived a bit after the window.", "Job done well.", "Happy with the result.",
        "{first} was polite and efficient.", "Fair price, good work."),
    3: ("OK, but took longer than quoted.", "Work is fine, communication could be better.",
        "Had to remind them to clean up.", "Average experience."),
    2: ("Arrived late and the job ran over.", "The problem came back within days.", "Left a mess behind.",
        "Not what was agreed."),
    1: ("No-show for an hour, then rushed the job.", "Still broken. Very disappointed.", "Would not recommend."),
}
# What managers write in free-text evaluation fields, by profile kind.
EVALUATION_COMMENTS: dict[str, tuple[str, ...]] = {
    "excellent": ("Outstanding month; customers ask for {first} by name.", "Mentored a new colleague."),
    "late": ("Punctuality remains the main issue; plan travel time.", "Several late arrivals again."),
    "callbacks": ("Too many return visits; double-check before leaving.", "Test the fix with the customer."),
    "overrun": ("Jobs keep running over the estimate; flag scope changes early.",),
    "improving": ("Clear progress this period.", "Much more reliable than in the first months."),
    "declining": ("Standards slipped this period; let's talk.", "More complaints than usual."),
    "ordinary": ("Solid month.", "Steady work, no concerns.", "Good feedback from customers."),
}
TECHNICIAN_REPLIES: tuple[str, ...] = (
    "Thanks, agreed.", "Will work on it.", "Traffic was bad on several days.", "Thank you!",
)
# fmt: on
