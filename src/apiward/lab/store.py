"""The lab's SQLite database: schema, seed data (three users and their orders) and queries.

One connection serves every request, guarded by a lock, because the routes run in a thread pool
and SQLite connections must not be used by two threads at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

PBKDF2_ITERATIONS = 10_000
SQL_SLEEP_MAX_SECONDS = 3.0
"""Upper bound of the ``sleep()`` SQL function, so a time-based injection cannot hold the lock long."""


@dataclass(frozen=True, slots=True)
class SeedUser:
    """A seeded account with its clear-text password, published for lessons and scanner auth."""

    username: str
    password: str
    role: str
    email: str
    card_number: str


SEED_USERS: tuple[SeedUser, ...] = (
    # The card numbers are the public test numbers of the card networks; each passes the Luhn check.
    SeedUser("alice", "alice-pass-1", "user", "alice@lab.example", "4111111111111111"),
    SeedUser("bob", "bob-pass-2", "user", "bob@lab.example", "5555555555554444"),
    SeedUser("admin", "admin-pass-3", "admin", "admin@lab.example", "378282246310005"),
)

SEED_PRODUCTS: tuple[tuple[str, int], ...] = (("keyboard", 4900), ("mouse", 1900), ("monitor", 18900))

# (owner username, product id, quantity, internal note)
SEED_ORDERS: tuple[tuple[str, int, int, str], ...] = (
    ("alice", 1, 1, "gift wrap"),
    ("alice", 2, 2, "regular customer"),
    ("bob", 3, 1, "ship to the office"),
    ("bob", 2, 1, "fraud review passed"),
    ("admin", 1, 5, "internal purchase"),
)

_SCHEMA = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY, username TEXT UNIQUE NOT NULL, password_hash TEXT NOT NULL,
    email TEXT NOT NULL, role TEXT NOT NULL, api_key TEXT NOT NULL, card_number TEXT NOT NULL,
    credit_cents INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price_cents INTEGER NOT NULL);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY, owner_id INTEGER NOT NULL, product_id INTEGER NOT NULL,
    quantity INTEGER NOT NULL, total_cents INTEGER NOT NULL, status TEXT NOT NULL,
    internal_note TEXT NOT NULL, internal_cost_cents INTEGER NOT NULL
);
CREATE TABLE redemptions (user_id INTEGER NOT NULL, code TEXT NOT NULL);
CREATE TABLE feedback (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, message TEXT NOT NULL);
CREATE TABLE newsletter (email TEXT NOT NULL);
"""

Row = dict[str, Any]


def hash_password(password: str, salt: str | None = None) -> str:
    """Return a PBKDF2-SHA256 hash string ``pbkdf2_sha256$iterations$salt$hex``."""
    salt = salt or secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), PBKDF2_ITERATIONS)
    return f"pbkdf2_sha256${PBKDF2_ITERATIONS}${salt}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """Return True when ``password`` matches the ``stored`` hash string."""
    _, _, salt, _ = stored.split("$")
    return hmac.compare_digest(hash_password(password, salt), stored)


def _sql_sleep(seconds: object) -> int:
    """SQL ``sleep(seconds)``, capped, so time-based injection has a clean signal on SQLite."""
    if isinstance(seconds, int | float) and seconds > 0:
        time.sleep(min(float(seconds), SQL_SLEEP_MAX_SECONDS))
    return 0


class LabStore:
    """The in-memory database of one lab app instance."""

    def __init__(self) -> None:
        self._connection = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self._connection.row_factory = sqlite3.Row
        self._connection.create_function("sleep", 1, _sql_sleep)
        self._lock = threading.Lock()
        self._connection.executescript(_SCHEMA)
        self._seed()

    def close(self) -> None:
        self._connection.close()

    @contextmanager
    def _cursor(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            yield self._connection.cursor()

    def _all(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[Row]:
        with self._cursor() as cursor:
            return [dict(row) for row in cursor.execute(sql, parameters).fetchall()]

    def _one(self, sql: str, parameters: tuple[Any, ...] = ()) -> Row | None:
        rows = self._all(sql, parameters)
        return rows[0] if rows else None

    def _write(self, sql: str, parameters: tuple[Any, ...] = ()) -> int:
        """Run one statement and return the id of the inserted row (0 for updates and deletes)."""
        with self._cursor() as cursor:
            cursor.execute(sql, parameters)
            return cursor.lastrowid or 0

    def _seed(self) -> None:
        for user in SEED_USERS:
            self.create_user(user.username, user.password, user.email, user.role, user.card_number)
        for name, price in SEED_PRODUCTS:
            self.create_product(name, price)
        for owner, product_id, quantity, note in SEED_ORDERS:
            owner_row = self.user_by_name(owner)
            assert owner_row is not None
            self.create_order(owner_row["id"], product_id, quantity, note)

    # Users

    def create_user(
        self, username: str, password: str, email: str, role: str = "user", card_number: str = ""
    ) -> int:
        api_key = "ak_" + secrets.token_hex(16)
        return self._write(
            "INSERT INTO users (username, password_hash, email, role, api_key, card_number)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (username, hash_password(password), email, role, api_key, card_number),
        )

    def user_by_name(self, username: str) -> Row | None:
        return self._one("SELECT * FROM users WHERE username = ?", (username,))

    def user_by_id(self, user_id: int) -> Row | None:
        return self._one("SELECT * FROM users WHERE id = ?", (user_id,))

    def users(self) -> list[Row]:
        return self._all("SELECT * FROM users ORDER BY id")

    def update_user(self, user_id: int, fields: dict[str, Any]) -> None:
        for column, value in fields.items():
            if column not in {"email", "role"}:
                raise ValueError(f"column {column!r} cannot be updated")
            self._write(f"UPDATE users SET {column} = ? WHERE id = ?", (value, user_id))

    def delete_user(self, user_id: int) -> bool:
        if self.user_by_id(user_id) is None:
            return False
        self._write("DELETE FROM users WHERE id = ?", (user_id,))
        return True

    def add_credit(self, user_id: int, cents: int) -> None:
        self._write("UPDATE users SET credit_cents = credit_cents + ? WHERE id = ?", (cents, user_id))

    # Products

    def create_product(self, name: str, price_cents: int) -> int:
        return self._write("INSERT INTO products (name, price_cents) VALUES (?, ?)", (name, price_cents))

    def products(self) -> list[Row]:
        return self._all("SELECT * FROM products ORDER BY id")

    def product(self, product_id: int) -> Row | None:
        return self._one("SELECT * FROM products WHERE id = ?", (product_id,))

    def search_products_unsafe(self, text: str) -> list[Row]:
        """Search product names by pasting ``text`` into the SQL: the injectable query of the lab."""
        return self._all(f"SELECT id, name, price_cents FROM products WHERE name LIKE '%{text}%' ORDER BY id")

    def search_products(self, text: str) -> list[Row]:
        return self._all(
            "SELECT id, name, price_cents FROM products WHERE name LIKE ? ORDER BY id", (f"%{text}%",)
        )

    # Orders

    def create_order(self, owner_id: int, product_id: int, quantity: int, note: str = "") -> int:
        product = self.product(product_id)
        price = product["price_cents"] if product else 0
        return self._write(
            "INSERT INTO orders (owner_id, product_id, quantity, total_cents, status, internal_note,"
            " internal_cost_cents) VALUES (?, ?, ?, ?, 'open', ?, ?)",
            (owner_id, product_id, quantity, price * quantity, note, price * quantity * 6 // 10),
        )

    def order(self, order_id: int) -> Row | None:
        return self._one("SELECT * FROM orders WHERE id = ?", (order_id,))

    def orders_of(self, owner_id: int, limit: int, offset: int) -> list[Row]:
        return self._all(
            "SELECT * FROM orders WHERE owner_id = ? ORDER BY id LIMIT ? OFFSET ?", (owner_id, limit, offset)
        )

    def update_order(self, order_id: int, fields: dict[str, Any]) -> None:
        for column, value in fields.items():
            if column not in {"quantity", "status"}:
                raise ValueError(f"column {column!r} cannot be updated")
            self._write(f"UPDATE orders SET {column} = ? WHERE id = ?", (value, order_id))

    def sales_total(self) -> Row:
        row = self._one("SELECT COUNT(*) AS orders, COALESCE(SUM(total_cents), 0) AS total_cents FROM orders")
        assert row is not None
        return row

    # Coupons, feedback, newsletter

    def redemption_count(self, user_id: int, code: str) -> int:
        row = self._one(
            "SELECT COUNT(*) AS n FROM redemptions WHERE user_id = ? AND code = ?", (user_id, code)
        )
        return int(row["n"]) if row else 0

    def record_redemption(self, user_id: int, code: str) -> None:
        self._write("INSERT INTO redemptions (user_id, code) VALUES (?, ?)", (user_id, code))

    def add_feedback(self, user_id: int, message: str) -> int:
        return self._write("INSERT INTO feedback (user_id, message) VALUES (?, ?)", (user_id, message))

    def feedback_length(self, feedback_id: int) -> int:
        row = self._one("SELECT length(message) AS n FROM feedback WHERE id = ?", (feedback_id,))
        return int(row["n"]) if row else 0

    def subscribe(self, email: str) -> None:
        self._write("INSERT INTO newsletter (email) VALUES (?)", (email,))
