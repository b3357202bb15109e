// The route's screen (App.tsx imports this name): the staff ticket page lives in Ticket.tsx.
export { default } from './Ticket';
