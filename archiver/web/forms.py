"""The forms that change something, each with a CSRF token (Flask-WTF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from archiver.users import ROLES

DAY = Regexp(r"^\d{4}-\d{2}-\d{2}$", message="a day like 2024-03-31")


class ActionForm(FlaskForm):
    """A button that posts: only the CSRF token."""


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class HoldForm(FlaskForm):
    matter = StringField("Matter", validators=[DataRequired(), Length(max=128)])
    query = TextAreaField("Query", validators=[DataRequired(), Length(max=4000)])
    accounts = StringField("Accounts (comma-separated, empty: all)",
                           validators=[Optional(), Length(max=2000)])
    date_from = StringField("From (created, else captured)", validators=[Optional(), DAY])
    date_to = StringField("To", validators=[Optional(), DAY])
    reason = TextAreaField("Reason (goes in the audit trail)",
                           validators=[DataRequired(), Length(max=4000)])


class ReleaseForm(FlaskForm):
    reason = TextAreaField("Reason for release", validators=[DataRequired(), Length(max=4000)])


class ExportForm(FlaskForm):
    source = SelectField("Export", choices=["query", "matter"])
    query = TextAreaField("Query", validators=[Optional(), Length(max=4000)])
    matter = StringField("Matter", validators=[Optional(), Length(max=128)])
    reason = TextAreaField("Reason (goes in the audit trail)",
                           validators=[Optional(), Length(max=4000)])


class UserForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=64)])
    role = SelectField("Role (admin, officer: compliance officer, auditor)", choices=list(ROLES))
    password = PasswordField("Password (12 characters or more)",
                             validators=[DataRequired(), Length(min=12, max=1024)])


class TokenForm(FlaskForm):
    name = StringField("What the token is for", validators=[DataRequired(), Length(max=128)])
